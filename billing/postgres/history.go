package postgres

import (
	"context"
	"errors"

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
// periods that have begun, oldest first; periods without charges are there
// with zero, so a chart shows the gap.
func (s *Store) AccountTrend(ctx context.Context, account string, n int) ([]PeriodTotal, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.name, p.status, count(c.job_row), coalesce(sum(c.total_micros), 0)::bigint
		FROM (SELECT id, name, status, starts_at FROM billing_periods WHERE starts_at <= now() ORDER BY starts_at DESC LIMIT $2) p
		LEFT JOIN job_charges c ON c.period_id = p.id AND c.account = $1
		GROUP BY p.id, p.name, p.status, p.starts_at
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
