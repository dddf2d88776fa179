package postgres

import (
	"context"
	"testing"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// Rating after an ingest rates only the jobs the ingest wrote, and ends
// where rating every job would have.
func TestRateOnlyChanged(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ('2026-10', '2026-10-01', '2026-11-01'), ('2026-11', '2026-11-01', '2026-12-01')`)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"),
		mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"),
		mk(3, "alice", "physics", "cpu", "normal", 1, 1024, "2026-11-02T10:00:00Z", "2026-11-02T12:00:00Z"),
	)
	changed := RateOptions{Rounding: billing.HalfUp, OnlyChanged: true}
	rate := func(opt RateOptions) RateSummary {
		t.Helper()
		sum, err := s.RateOpen(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	var queued int
	for _, step := range []struct {
		name        string
		before      func()
		onlyChanged bool
		jobs        int
		written     int
	}{
		{"no run before: every job", nil, false, 3, 3},
		{"nothing written since", nil, true, 0, 0},
		{"one new job and one changed", func() {
			addJobs(t, pool,
				mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T13:00:00Z"),
				mk(4, "bob", "chem", "cpu", "normal", 2, 1024, "2026-11-03T10:00:00Z", "2026-11-03T11:00:00Z"))
		}, true, 2, 2},
		{"the same records again change nothing", func() {
			addJobs(t, pool, mk(4, "bob", "chem", "cpu", "normal", 2, 1024, "2026-11-03T10:00:00Z", "2026-11-03T11:00:00Z"))
		}, true, 0, 0},
		{"a new card version: every job again", func() {
			if _, err := s.AddVersion(ctx, "name: standard\ncurrency: USD\nversions:\n  - version: 3\n    effective_from: 2026-11-01T00:00:00Z\n    partitions:\n      cpu: {cpu: \"0.05\", mem: \"0.005\"}\n", "test"); err != nil {
				t.Fatal(err)
			}
		}, false, 4, 2},
		{"a period closed: every job again", func() {
			pool.Exec(ctx, `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = 'test' WHERE name = '2026-10'`)
		}, false, 2, 0},
		{"and then only what changes", func() {
			addJobs(t, pool, mk(5, "alice", "physics", "cpu", "normal", 1, 1024, "2026-11-04T10:00:00Z", "2026-11-04T12:00:00Z"))
		}, true, 1, 1},
	} {
		if step.before != nil {
			step.before()
		}
		sum := rate(changed)
		if sum.OnlyChanged != step.onlyChanged || sum.Jobs != step.jobs || sum.Written != step.written || sum.Failed != 0 {
			t.Fatalf("%s: %+v; want only-changed %v, %d jobs, %d written", step.name, sum, step.onlyChanged, step.jobs, step.written)
		}
		if full := rate(RateOptions{Rounding: billing.HalfUp}); full.Written != 0 {
			t.Fatalf("%s: rating every job afterwards changed %d charges", step.name, full.Written)
		}
		pool.QueryRow(ctx, `SELECT count(*) FROM jobs_unrated`).Scan(&queued)
		if queued != 0 {
			t.Fatalf("%s: %d jobs left queued", step.name, queued)
		}
	}

	// A job written by a transaction still open when rating runs stays
	// queued for the next run: nothing falls between two runs.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT ensure_month_partitions('2026-11-05', '2026-11-05')`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO jobs (cluster, job_id, submit_time, username, account, partition, state, start_time, end_time,
		elapsed_seconds, req_cpu, req_mem_mib, req_nodes, alloc_cpu, alloc_mem_mib, alloc_nodes, content_hash, source)
		VALUES ('testbed', 6, '2026-11-05T10:00:00Z', 'alice', 'physics', 'cpu', 'COMPLETED', '2026-11-05T10:00:00Z', '2026-11-05T11:00:00Z',
		3600, 1, 1024, 1, 1, 1024, 1, 'x', 'sacct')`); err != nil {
		t.Fatal(err)
	}
	if sum := rate(changed); sum.Jobs != 0 {
		t.Fatalf("rated a job not yet committed: %+v", sum)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if sum := rate(changed); !sum.OnlyChanged || sum.Jobs != 1 || sum.Written != 1 || sum.UsageDays != 1 {
		t.Fatalf("the job committed after a run: %+v", sum)
	}
}

// Under split attribution a period's end changes what running jobs are
// charged, so it changes the fingerprint; under end attribution it does not.
func TestRatingFingerprint(t *testing.T) {
	periods := []Period{{ID: 1, Starts: at("2026-10-01T00:00:00Z"), Ends: at("2026-11-01T00:00:00Z"), Status: "open"}}
	before, after := at("2026-10-31T23:00:00Z"), at("2026-11-01T01:00:00Z")
	for _, tc := range []struct {
		attribution string
		differ      bool
	}{{"end", false}, {"split", true}} {
		opt := RateOptions{Attribution: tc.attribution, Rounding: billing.HalfUp}
		if differ := ratingFingerprint(nil, periods, opt, before) != ratingFingerprint(nil, periods, opt, after); differ != tc.differ {
			t.Errorf("%s: fingerprints differ across the period end = %v", tc.attribution, differ)
		}
	}
	base := ratingFingerprint(billing.Cards{{ID: 1}}, periods, RateOptions{}, before)
	for name, fp := range map[string]string{
		"another card":     ratingFingerprint(billing.Cards{{ID: 1}, {ID: 2}}, periods, RateOptions{}, before),
		"closed":           ratingFingerprint(billing.Cards{{ID: 1}}, []Period{{ID: 1, Starts: periods[0].Starts, Ends: periods[0].Ends, Status: "closed"}}, RateOptions{}, before),
		"another rounding": ratingFingerprint(billing.Cards{{ID: 1}}, periods, RateOptions{Rounding: billing.HalfEven}, before),
	} {
		if fp == base {
			t.Errorf("%s: same fingerprint", name)
		}
	}
}
