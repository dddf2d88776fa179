package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// ClosePeriod issues the period's statements: numbered without gaps,
// hashed, with the account details they print frozen in, and the period
// closed, in one transaction. After this the database refuses to change
// the period, its charges and its statements.
//
// The close cannot race rating or adjustments: it holds the rating lock
// (taken before its transaction starts, so its snapshot includes every
// rating that finished first), locks the periods table against the
// closed-period guards (which take their period FOR SHARE, migration
// 00013) before its snapshot is taken, and reads statements and
// per-person totals from that one repeatable-read snapshot. A write that
// waited for the close then finds the period closed and is refused.
func (s *PeriodStore) ClosePeriod(ctx context.Context, name, by string, rule billing.Rounding) (PeriodStatements, error) {
	var ps PeriodStatements
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return ps, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return ps, fmt.Errorf("closing %s: %w", name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(rateLock)); err != nil {
		return ps, fmt.Errorf("closing %s: waiting for rating: %w", name, err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(rateLock))
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		// Before the snapshot is taken (LOCK takes none): wait for every
		// write that has passed the closed-period guard (it holds its
		// period FOR SHARE) to commit, and hold off new ones, so the
		// snapshot below sees every charge and adjustment of the period.
		if _, err := tx.Exec(ctx, `LOCK TABLE billing_periods IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var p Period
		err := tx.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status FROM billing_periods WHERE name = $1 FOR UPDATE`, name).
			Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFoundf("no billing period %q", name)
		}
		if err != nil {
			return err
		}
		if p.Closed() {
			return billing.Conflictf("billing period %s is already closed", name)
		}
		if !p.Closable(time.Now()) {
			return billing.Conflictf("billing period %s has not ended yet (it may be closed from %s)", name, p.ClosableAt().UTC().Format("2006-01-02 15:04 UTC"))
		}
		sts, err := s.periodStatements(ctx, tx, pol, []Period{p}, ChargeScope{})
		if err != nil {
			return err
		}
		issue := sts[p.ID]
		for i := range issue {
			st := &issue[i]
			st.Number = fmt.Sprintf("%s-%04d", p.Name, i+1)
			st.HashVersion = billing.HashVersion
			st.SHA256 = st.Hash(p)
			d := st.Details
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO statements (period_id, number, account, currency, jobs, total_micros, sha256, hash_version,
					display_name, pi, cost_centre, po_number)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`, p.ID, st.Number, st.Account, st.Currency, st.Jobs,
				int64(st.Total), st.SHA256, st.HashVersion, d.DisplayName, d.PI, d.CostCentre, d.PONumber).Scan(&id); err != nil {
				return fmt.Errorf("statement %s: %w", st.Number, err)
			}
			for _, l := range st.Lines {
				if _, err := tx.Exec(ctx, `INSERT INTO statement_lines (statement_id, cluster, component, jobs, exact_micros, amount_micros) VALUES ($1, $2, $3, $4, $5, $6)`,
					id, l.Cluster, l.Component, l.Jobs, int64(l.Exact), int64(l.Amount)); err != nil {
					return fmt.Errorf("statement %s: %w", st.Number, err)
				}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO statement_users (period_id, account, username, jobs, exact_micros)
			SELECT $1, account, username, count(DISTINCT job_row), sum(total_micros) FROM job_charges
			WHERE period_id = $1 AND not_charged = '' GROUP BY 2, 3`, p.ID); err != nil {
			return fmt.Errorf("per-person totals: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = $2 WHERE id = $1`, p.ID, by); err != nil {
			return err
		}
		p.Status = billing.PeriodClosed
		ps, err = billing.NewPeriodStatements(p, issue)
		return err
	})
	if err != nil {
		var be *billing.Error
		if errors.As(err, &be) {
			return ps, err
		}
		return ps, fmt.Errorf("closing %s: %w", name, err)
	}
	return ps, nil
}
