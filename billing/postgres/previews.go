package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// PreviewChange is how an account's total moved since the last recorded
// preview.
type PreviewChange struct {
	Account string
	Before  billing.Micros
	Now     billing.Micros
}

// PreviewChanges compares a preview with the last one recorded for its
// period, writing nothing: looking at a period changes nothing.
func (s *PeriodStore) PreviewChanges(ctx context.Context, ps PeriodStatements) (_ []PreviewChange, _ *time.Time, err error) {
	defer annotate(&err, "comparing the preview of %s", ps.Period.Name)
	var prevJSON []byte
	var prevAt *time.Time
	err = s.pool.QueryRow(ctx, `SELECT totals, at FROM period_previews WHERE period_id = $1 ORDER BY id DESC LIMIT 1`, ps.Period.ID).Scan(&prevJSON, &prevAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("last preview of %s: %w", ps.Period.Name, err)
	}
	prev := map[string]int64{}
	if err := json.Unmarshal(prevJSON, &prev); err != nil {
		return nil, nil, fmt.Errorf("last preview of %s: %w", ps.Period.Name, err)
	}
	now := previewTotals(ps)
	var out []PreviewChange
	for a, v := range now {
		if prev[a] != v {
			out = append(out, PreviewChange{Account: a, Before: billing.Micros(prev[a]), Now: billing.Micros(v)})
		}
	}
	for a, v := range prev {
		if _, ok := now[a]; !ok {
			out = append(out, PreviewChange{Account: a, Before: billing.Micros(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, prevAt, nil
}

// RecordPreview stores this preview's per-account totals, so the next
// look at the period can say what changed since. Only an explicit request
// records one.
func (s *PeriodStore) RecordPreview(ctx context.Context, ps PeriodStatements, actor string) (err error) {
	defer annotate(&err, "recording the preview of %s", ps.Period.Name)
	b, err := json.Marshal(previewTotals(ps))
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO period_previews (period_id, actor, totals) VALUES ($1, $2, $3)`, ps.Period.ID, actor, b); err != nil {
		return fmt.Errorf("recording the preview of %s: %w", ps.Period.Name, err)
	}
	return nil
}

func previewTotals(ps PeriodStatements) map[string]int64 {
	now := map[string]int64{}
	for _, st := range ps.Statements {
		now[st.Account] = int64(st.Total)
	}
	return now
}
