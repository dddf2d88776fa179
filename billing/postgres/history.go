package postgres

import (
	"context"
	"errors"
	"slices"

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

// AccountTrend returns the account's charges in each of the last n
// periods that have begun, oldest first: as issued (statements, adjustments
// included) for closed periods, from the cluster-wide daily rollup for open
// ones. Periods without charges are there with zero, so a chart shows the gap.
func (s *Store) AccountTrend(ctx context.Context, account string, n int) ([]PeriodTotal, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.name, p.status, t.jobs, t.total
		FROM (SELECT id, name, status, starts_at, ends_at FROM billing_periods WHERE starts_at <= now() ORDER BY starts_at DESC LIMIT $2) p,
		LATERAL (
			SELECT coalesce(sum(st.jobs), 0)::bigint AS jobs, coalesce(sum(st.total_micros), 0)::bigint AS total
			FROM statements st WHERE p.status = 'closed' AND st.period_id = p.id AND st.account = $1
			UNION ALL
			SELECT coalesce(sum(u.jobs), 0)::bigint, coalesce(sum(u.total_micros), 0)::bigint
			FROM usage_daily_all u WHERE p.status = 'open' AND u.account = $1
			  AND u.day >= (p.starts_at AT TIME ZONE 'UTC')::date AND u.day < (p.ends_at AT TIME ZONE 'UTC')::date
			ORDER BY 1 DESC LIMIT 1) t -- of the two rows, the branch that applies (the other counts nothing)
		ORDER BY p.starts_at`, account, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PeriodTotal
	for rows.Next() {
		var t PeriodTotal
		var total int64
		if err := rows.Scan(&t.Period, &t.Status, &t.Jobs, &total); err != nil {
			return nil, err
		}
		t.Total = billing.Micros(total)
		out = append(out, t)
	}
	return out, rows.Err()
}

// LastClosed is one person's total in the most recent closed period, as
// frozen at its close; ok is false when no period has closed yet.
func (s *Store) LastClosed(ctx context.Context, user string) (t PeriodTotal, ok bool, err error) {
	var total int64
	err = s.pool.QueryRow(ctx, `SELECT p.name, p.status, coalesce(sum(su.jobs), 0)::bigint, coalesce(sum(su.exact_micros), 0)::bigint
		FROM (SELECT id, name, status FROM billing_periods WHERE status = 'closed' ORDER BY starts_at DESC LIMIT 1) p
		LEFT JOIN statement_users su ON su.period_id = p.id AND su.username = $1
		GROUP BY p.name, p.status`, user).Scan(&t.Period, &t.Status, &t.Jobs, &total)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	t.Total = billing.Micros(total)
	return t, err == nil, err
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
func (s *Store) History(ctx context.Context, n int) (AccountHistory, error) {
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
