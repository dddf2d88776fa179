package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// PeriodTotal is one account's charges in one billing period.
type PeriodTotal struct {
	Period string
	Status string // open or closed
	Jobs   int64
	Total  billing.Micros
}

// AccountTrend returns the account's statement total and jobs in each of
// the last n periods that have begun, oldest first: as issued for closed
// periods, as previewed for open ones (the figures of the account's
// statement). Periods without charges are there with zero, so a chart
// shows the gap.
func (s *PeriodStore) AccountTrend(ctx context.Context, account string, n int, rule billing.Rounding) (_ []PeriodTotal, err error) {
	defer annotate(&err, "reading the trend of %s", account)
	all, err := s.Periods(ctx)
	if err != nil {
		return nil, err
	}
	var ps []Period
	now := time.Now()
	for _, p := range all {
		if !p.Starts.After(now) {
			ps = append(ps, p)
		}
	}
	if len(ps) > n {
		ps = ps[len(ps)-n:]
	}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return nil, err
	}
	sts, err := s.periodStatements(ctx, s.pool, pol, ps, ChargeScope{Accounts: []string{account}})
	if err != nil {
		return nil, fmt.Errorf("trend of %s: %w", account, err)
	}
	out := make([]PeriodTotal, 0, len(ps))
	for _, p := range ps {
		t := PeriodTotal{Period: p.Name, Status: p.Status}
		for _, st := range sts[p.ID] {
			t.Total += st.Total
			t.Jobs += int64(st.Jobs)
		}
		out = append(out, t)
	}
	return out, nil
}

// LastClosedPeriod is the most recent closed period; ok is false when
// no period has closed yet. Its figures for a scope are built as any
// period's are (ScopeStatements), so a dashboard's line about it covers
// what its tiles cover.
func (s *PeriodStore) LastClosedPeriod(ctx context.Context) (p Period, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods
		WHERE status = 'closed' ORDER BY starts_at DESC LIMIT 1`).Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status, &p.ClosedAt, &p.ClosedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("last closed period: %w", err)
	}
	return p, true, nil
}

// AccountHistory is every account's statement totals over the last closed
// periods: Totals[i][k] is Accounts[i] in Periods[k] (zero: no statement).
type AccountHistory struct {
	Periods  []string
	Accounts []string
	Totals   [][]billing.Micros
	Sums     []billing.Micros // per period, all accounts
	Currency string
}

// History reads the statements of the last n closed periods, oldest first.
func (s *PeriodStore) History(ctx context.Context, n int) (_ AccountHistory, err error) {
	defer annotate(&err, "reading statement history")
	var h AccountHistory
	rows, err := s.pool.Query(ctx, `WITH p AS (SELECT id, name, starts_at FROM billing_periods WHERE status = 'closed' ORDER BY starts_at DESC LIMIT $1)
		SELECT p.name, st.account, st.total_micros, st.currency
		FROM p JOIN statements st ON st.period_id = p.id
		ORDER BY p.starts_at, st.account`, n)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	type cell struct {
		period, account string
		total           billing.Micros
	}
	var cells []cell
	for rows.Next() {
		var c cell
		var total int64
		if err := rows.Scan(&c.period, &c.account, &total, &h.Currency); err != nil {
			return h, err
		}
		c.total = billing.Micros(total)
		cells = append(cells, c)
		if len(h.Periods) == 0 || h.Periods[len(h.Periods)-1] != c.period {
			h.Periods = append(h.Periods, c.period)
		}
		h.Accounts = append(h.Accounts, c.account)
	}
	if err := rows.Err(); err != nil {
		return h, err
	}
	slices.Sort(h.Accounts)
	h.Accounts = slices.Compact(h.Accounts)
	h.Totals = make([][]billing.Micros, len(h.Accounts))
	for i := range h.Totals {
		h.Totals[i] = make([]billing.Micros, len(h.Periods))
	}
	h.Sums = make([]billing.Micros, len(h.Periods))
	for _, c := range cells {
		a, _ := slices.BinarySearch(h.Accounts, c.account)
		p := slices.Index(h.Periods, c.period)
		h.Totals[a][p] += c.total
		h.Sums[p] += c.total
	}
	return h, nil
}
