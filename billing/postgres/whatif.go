package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// WhatIfRow is one account under the cards in force and under a draft.
type WhatIfRow struct {
	Account string
	Jobs    int
	Current billing.Micros
	Draft   billing.Micros
}

// WhatIf rates the jobs that ended in [from, to) twice, under the stored
// cards and under the draft alone (as if it had been in force all along;
// jobs the draft has no prices for keep their current amount), and sums
// per account. Nothing is written.
func (s *RatingStore) WhatIf(ctx context.Context, draft *billing.RateCard, from, to time.Time, rule billing.Rounding) (_ []WhatIfRow, err error) {
	defer annotate(&err, "pricing a draft card")
	cards, err := s.cards.Cards(ctx)
	if err != nil {
		return nil, err
	}
	current := billing.Rater{Cards: cards, Rounding: rule}
	always := *draft
	always.EffectiveFrom = time.Time{}
	withDraft := billing.Rater{Cards: billing.Cards{&always}, Rounding: rule}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs j WHERE j.end_time >= $1 AND j.end_time < $2`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	by := map[string]*WhatIfRow{}
	for rows.Next() {
		var ur usageRow
		if err := rows.Scan(ur.dest()...); err != nil {
			return nil, err
		}
		_, u := ur.usage()
		a, errA := current.Rate(u)
		b, errB := withDraft.Rate(u)
		if errA != nil && errB != nil {
			continue // unratable either way; the preview of the period lists such jobs
		}
		if errB != nil {
			b = a
		}
		row := by[u.Account]
		if row == nil {
			row = &WhatIfRow{Account: u.Account}
			by[u.Account] = row
		}
		row.Jobs++
		row.Current += a.Total
		row.Draft += b.Total
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]WhatIfRow, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}
