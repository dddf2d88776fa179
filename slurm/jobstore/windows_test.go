package jobstore

import (
	"context"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// The last good window ignores sign-in refreshes (one person's records),
// dry runs and failed runs: records are complete only to the newest
// cluster-wide window.
func TestLastGoodWindowIsClusterWide(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, r := range []Run{
		{WindowStart: day, WindowEnd: day.Add(time.Hour), Source: "rest", Trigger: "schedule"},
		{WindowStart: day, WindowEnd: day.Add(5 * time.Hour), Source: "rest", Trigger: "login"},
		{WindowStart: day, WindowEnd: day.Add(6 * time.Hour), Source: "sacct", Trigger: "cli", DryRun: true},
	} {
		w, err := s.Begin(ctx, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		r.Started = time.Now()
		if _, err := w.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	last, err := LastGoodWindow(ctx, pool, "")
	if err != nil || last == nil || !last.Equal(day.Add(time.Hour)) {
		t.Fatalf("last good window %v (%v), want %s", last, err, day.Add(time.Hour))
	}
	spans, err := GoodWindows(ctx, pool, "", day, day.AddDate(0, 0, 1))
	if err != nil || len(spans) != 1 {
		t.Fatalf("good windows %v (%v)", spans, err)
	}
}
