package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

func TestDayRanges(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 10, day, 13, 0, 0, 0, time.UTC) }
	got := fmt.Sprint(dayRanges([]time.Time{d(20), d(3), d(4), d(4), d(5), d(31), d(30)}))
	want := fmt.Sprint([]dayRange{{day(d(3)), day(d(6))}, {day(d(20)), day(d(21))}, {day(d(30)), day(d(31)).AddDate(0, 0, 1)}})
	if got != want {
		t.Errorf("ranges %s, want %s", got, want)
	}
}

// rollup is the daily usage tables as text, in a fixed order.
func rollup(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT
		coalesce((SELECT string_agg(concat_ws('|', day, cluster, username, account, partition, qos, state, jobs, core_seconds, gpu_seconds,
			cpu_time_us, total_micros, idle_micros, currency), E'\n' ORDER BY day, username, account, partition, qos, state) FROM usage_daily), '')
		|| E'\n--\n' ||
		coalesce((SELECT string_agg(concat_ws('|', day, cluster, account, partition, qos, state, jobs, core_seconds, gpu_seconds,
			cpu_time_us, total_micros, idle_micros, currency), E'\n' ORDER BY day, account, partition, qos, state) FROM usage_daily_all), '')`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// After incremental rating, the rollup is what rebuilding it from nothing
// gives: whatever the changes were (new jobs on old days, a job moved to
// another day, a job no longer ended), pages show the same as a full run.
func TestIncrementalRollupMatchesRebuild(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"))
	first := mk(1, "alice", "physics", "cpu", "normal", 4, 4096, "2026-10-02T09:00:00Z", "2026-10-02T11:00:00Z")
	addJobs(t, pool, first,
		mk(2, "bob", "chem", "cpu", "normal", 2, 2048, "2026-10-05T09:00:00Z", "2026-10-05T10:00:00Z"),
		mk(3, "alice", "physics", "gpu", "normal", 8, 8192, "2026-10-10T09:00:00Z", "2026-10-10T12:00:00Z"),
		mk(4, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-20T09:00:00Z", "2026-10-20T09:30:00Z"),
	)
	rate := func() RateSummary {
		t.Helper()
		sum, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp, OnlyChanged: true})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	rate()
	check := func(step string) {
		t.Helper()
		incremental := rollup(t, pool)
		if err := s.RefreshUsage(ctx, time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if full := rollup(t, pool); full != incremental {
			t.Fatalf("%s: the incremental rollup differs from a rebuild:\n%s\n--- rebuilt ---\n%s", step, incremental, full)
		}
	}
	if !strings.Contains(rollup(t, pool), "alice") {
		t.Fatal("empty rollup after rating")
	}
	check("first rating")

	// A late record on an old day and one today: two days refreshed, not
	// the eighteen between.
	addJobs(t, pool, mk(5, "carol", "physics", "cpu", "normal", 2, 2048, "2026-10-02T12:00:00Z", "2026-10-02T13:00:00Z"),
		mk(6, "carol", "physics", "cpu", "normal", 2, 2048, "2026-10-20T12:00:00Z", "2026-10-20T13:00:00Z"))
	if sum := rate(); sum.UsageDays != 2 {
		t.Errorf("late records on two days refreshed %d days", sum.UsageDays)
	}
	check("late records")

	// Slurm corrects a job's end: it moves from the 5th to the 6th.
	moved := mk(2, "bob", "chem", "cpu", "normal", 2, 2048, "2026-10-05T09:00:00Z", "2026-10-06T10:00:00Z")
	moved.Submit = at("2026-10-05T09:00:00Z")
	addJobs(t, pool, moved)
	rate()
	check("a job moved to another day")

	// A job requeued: its record says running again, with no end.
	running := mk(3, "alice", "physics", "gpu", "normal", 8, 8192, "2026-10-10T09:00:00Z", "2026-10-10T12:00:00Z")
	running.End, running.State, running.ElapsedSeconds = time.Time{}, "RUNNING", 3600
	addJobs(t, pool, running)
	rate()
	check("a job no longer ended")
}
