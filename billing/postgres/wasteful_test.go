package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// The rule the wasteful_jobs triggers apply in SQL is billing's.
func TestWasteRuleInSQL(t *testing.T) {
	pool := pgtest.New(t)
	w := billing.Waste()
	ctx := context.Background()
	for _, eff := range []*int64{nil, ptr(int64(-1)), ptr(int64(0)), ptr(w.BelowPPM - 1), ptr(w.BelowPPM), ptr(int64(1_000_000))} {
		for _, total := range []billing.Micros{0, w.MinCost - 1, w.MinCost, w.MinCost * 100} {
			var got bool
			if err := pool.QueryRow(ctx, `SELECT wasteful($1, $2)`, eff, int64(total)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := w.Wasteful(eff, total); got != want {
				e := "null"
				if eff != nil {
					e = fmt.Sprint(*eff)
				}
				t.Errorf("wasteful(%s, %d) = %v in SQL, %v in billing", e, total, got, want)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// wasteful_jobs lists exactly the jobs whose charges make them wasteful,
// after any mix of charges written, changed and removed, one or many at
// a time (rating writes by COPY and by upsert, and removes portions).
func TestWastefulJobsFollowCharges(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT ensure_month_partitions('2026-10-01', '2026-11-30')`); err != nil {
		t.Fatal(err)
	}
	const jobs = 12
	if _, err := pool.Exec(ctx, `INSERT INTO jobs (cluster, job_id, submit_time, username, state, elapsed_seconds, content_hash, source)
		SELECT 'c', g, timestamptz '2026-10-01' + g * interval '1 day', 'u', 'COMPLETED', 60, 'h', 'sacct' FROM generate_series(1, $1) g`, jobs); err != nil {
		t.Fatal(err)
	}
	w := billing.Waste()
	effs := []any{nil, int64(0), int64(50_000), w.BelowPPM - 1, w.BelowPPM, int64(900_000)}
	totals := []int64{0, int64(w.MinCost) / 2, int64(w.MinCost) - 1, int64(w.MinCost), 3 * int64(w.MinCost)}
	rng := rand.New(rand.NewPCG(7, 23))
	pick := func() (int, int) { return 1 + rng.IntN(jobs), rng.IntN(3) } // a job and one of three portions
	const job = `(SELECT id FROM jobs WHERE job_id = $1)`
	const submit = `(SELECT submit_time FROM jobs WHERE job_id = $1)`
	ops := []struct {
		name string
		run  func() error
	}{
		{"insert a portion", func() error {
			j, p := pick()
			_, err := pool.Exec(ctx, `INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, cluster, account, username,
				total_micros, efficiency_ppm, charge_hash) VALUES (`+job+`, `+submit+`, `+submit+` + $2 * interval '1 hour', `+submit+` + ($2 + 1) * interval '1 hour',
				'c', 'a', 'u', $3, $4, 'h') ON CONFLICT DO NOTHING`, j, p, totals[rng.IntN(len(totals))], effs[rng.IntN(len(effs))])
			return err
		}},
		{"change a portion", func() error {
			j, p := pick()
			_, err := pool.Exec(ctx, `UPDATE job_charges SET total_micros = $3, efficiency_ppm = $4
				WHERE job_row = `+job+` AND portion_start = `+submit+` + $2 * interval '1 hour'`, j, p, totals[rng.IntN(len(totals))], effs[rng.IntN(len(effs))])
			return err
		}},
		{"remove a portion", func() error {
			j, p := pick()
			_, err := pool.Exec(ctx, `DELETE FROM job_charges WHERE job_row = `+job+` AND portion_start = `+submit+` + $2 * interval '1 hour'`, j, p)
			return err
		}},
		{"change many", func() error {
			_, err := pool.Exec(ctx, `UPDATE job_charges SET efficiency_ppm = $1 WHERE job_row % 3 = $2`, effs[rng.IntN(len(effs))], rng.IntN(3))
			return err
		}},
		{"remove many", func() error {
			_, err := pool.Exec(ctx, `DELETE FROM job_charges WHERE job_row % 4 = $1`, rng.IntN(4))
			return err
		}},
		{"upsert many", func() error {
			_, err := pool.Exec(ctx, `INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, cluster, account, username,
				total_micros, efficiency_ppm, charge_hash)
				SELECT id, submit_time, submit_time, submit_time + interval '1 hour', 'c', 'a', 'u', $1, $2, 'h' FROM jobs WHERE job_id % 2 = $3
				ON CONFLICT (job_row, job_submit, portion_start) DO UPDATE SET total_micros = EXCLUDED.total_micros, efficiency_ppm = EXCLUDED.efficiency_ppm`,
				totals[rng.IntN(len(totals))], effs[rng.IntN(len(effs))], rng.IntN(2))
			return err
		}},
	}
	listed := func() (got, want string) {
		pool.QueryRow(ctx, `SELECT coalesce(string_agg(job_row::text, ',' ORDER BY job_row), '') FROM wasteful_jobs`).Scan(&got)
		pool.QueryRow(ctx, `SELECT coalesce(string_agg(job_row::text, ',' ORDER BY job_row), '') FROM (
			SELECT job_row FROM job_charges GROUP BY job_row, job_submit HAVING max(efficiency_ppm) BETWEEN 0 AND $1 - 1 AND sum(total_micros) >= $2) w`,
			w.BelowPPM, int64(w.MinCost)).Scan(&want)
		return
	}
	seen := 0
	for step := range 2000 {
		op := ops[rng.IntN(len(ops))]
		if err := op.run(); err != nil {
			t.Fatalf("step %d, %s: %v", step, op.name, err)
		}
		got, want := listed()
		if got != want {
			t.Fatalf("step %d, after %s: wasteful_jobs lists [%s], the charges make [%s]", step, op.name, got, want)
		}
		if got != "" {
			seen++
		}
	}
	if seen < 50 {
		t.Fatalf("only %d steps had a wasteful job: the test does not exercise the rule", seen)
	}
	if _, err := pool.Exec(ctx, `TRUNCATE job_charges`); err != nil {
		t.Fatal(err)
	}
	if got, _ := listed(); got != "" {
		t.Errorf("after the charges were emptied wasteful_jobs still lists %s", got)
	}
}
