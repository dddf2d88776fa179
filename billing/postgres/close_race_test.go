package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
)

// A close cannot race rating: rating runs while periods close, many times
// over, and no charge ever lands in a closed period outside its
// statements (the statements' lines and job counts equal the charges
// behind them).
func TestCloseDoesNotRaceRating(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	const rounds = 20
	first := at("2026-09-01T00:00:00Z")
	for i := 0; i < rounds; i++ {
		day := first.AddDate(0, 0, i)
		if err := s.AddPeriod(ctx, fmt.Sprintf("race-%02d", i), day, day.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Rating runs over and over while the periods are filled and closed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}) // may find a period closed under it: allowed
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	id := int64(1)
	for i := 0; i < rounds; i++ {
		name := fmt.Sprintf("race-%02d", i)
		day := first.AddDate(0, 0, i)
		// Jobs of the period about to close, not yet rated: a rating run
		// racing the close writes their charges.
		var jobs []slurm.Job
		for k := 0; k < 300; k++ {
			end := day.Add(time.Duration(1+k%20) * time.Hour)
			jobs = append(jobs, mk(id, fmt.Sprintf("u%d", k%7), []string{"physics", "chem"}[k%2], "cpu", "normal", 1+int64(k%4), 1024,
				end.Add(-time.Hour).Format(time.RFC3339), end.Format(time.RFC3339)))
			id++
		}
		addJobs(t, pool, jobs...)
		time.Sleep(time.Duration(i%5) * 10 * time.Millisecond)
		if _, err := s.ClosePeriod(ctx, name, "race", billing.HalfUp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var chargedJobs, stmtJobs, chargedExact, stmtExact int64
		if err := pool.QueryRow(ctx, `SELECT
				(SELECT count(DISTINCT c.job_row) FROM job_charges c JOIN billing_periods p ON p.id = c.period_id WHERE p.name = $1 AND c.not_charged = ''),
				(SELECT coalesce(sum(s.jobs), 0) FROM statements s JOIN billing_periods p ON p.id = s.period_id WHERE p.name = $1),
				(SELECT coalesce(sum(c.total_micros), 0) FROM job_charges c JOIN billing_periods p ON p.id = c.period_id WHERE p.name = $1),
				(SELECT coalesce(sum(l.exact_micros), 0) FROM statement_lines l JOIN statements s ON s.id = l.statement_id
				   JOIN billing_periods p ON p.id = s.period_id WHERE p.name = $1 AND l.component <> 'adjustments')`, name).
			Scan(&chargedJobs, &stmtJobs, &chargedExact, &stmtExact); err != nil {
			t.Fatal(err)
		}
		if chargedJobs != stmtJobs || chargedExact != stmtExact {
			t.Fatalf("%s: charges in the closed period (%d jobs, %s) differ from its statements (%d jobs, %s)",
				name, chargedJobs, billing.Micros(chargedExact), stmtJobs, billing.Micros(stmtExact))
		}
	}
}

// A write that passed the closed-period guard before a close began is in
// that close's statements: the close waits for it to commit. Rating is
// imitated by a transaction held open after writing a charge.
func TestCloseWaitsForAChargeInFlight(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	if err := s.AddPeriod(ctx, "inflight", at("2026-09-01T00:00:00Z"), at("2026-09-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	addJobs(t, pool, mk(1, "alice", "physics", "cpu", "normal", 4, 4096, "2026-09-01T10:00:00Z", "2026-09-01T12:00:00Z"))
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	addJobs(t, pool, mk(2, "alice", "physics", "cpu", "normal", 4, 4096, "2026-09-01T10:00:00Z", "2026-09-01T12:00:00Z"))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO job_charges (`+chargeColumns+`)
		SELECT (SELECT id FROM jobs WHERE job_id = 2), portion_start, portion_end, period_id, cluster, account, username, rate_card_id, currency,
			total_micros, idle_micros, efficiency_ppm, not_charged, account_reason, lines, charge_hash,
			(SELECT submit_time FROM jobs WHERE job_id = 2)
		FROM job_charges`); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		_, err := s.ClosePeriod(ctx, "inflight", "test", billing.HalfUp)
		closed <- err
	}()
	select {
	case err := <-closed:
		t.Fatalf("the close did not wait for the charge in flight (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := pool.QueryRow(ctx, `SELECT jobs FROM statements`).Scan(&jobs); err != nil || jobs != 2 {
		t.Fatalf("statement jobs %d (%v), want both charges", jobs, err)
	}
	// And a write after the close is refused, with its reason.
	_, err = pool.Exec(ctx, `UPDATE job_charges SET total_micros = total_micros + 1`)
	if err == nil || !strings.Contains(err.Error(), "is closed") {
		t.Fatalf("write into the closed period: %v", err)
	}
}
