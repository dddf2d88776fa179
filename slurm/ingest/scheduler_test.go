package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// Only one replica ingests at a time; each run starts where the last good
// window ended, less the overlap.
func TestSchedulerLockAndIncrement(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	srv := fakeRestd(t, serveJSON(200, full))
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
	pool := store.Pool()
	ctx := context.Background()
	s := NewScheduler(in, pool, time.Minute, 30*time.Minute, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	in.cfg.Source = "rest" // associations: no sacctmgr here

	other, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other.Exec(ctx, `SELECT pg_advisory_lock($1)`, s.lockKey())
	if err := s.Once(ctx, "schedule"); err != nil {
		t.Fatal(err)
	}
	var runs int
	pool.QueryRow(ctx, `SELECT count(*) FROM ingest_runs`).Scan(&runs)
	if runs != 0 {
		t.Fatalf("ingested while another replica held the lock: %d runs", runs)
	}
	other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, s.lockKey())
	other.Release()

	if err := s.Once(ctx, "schedule"); err != nil {
		t.Fatal(err)
	}
	var first, last time.Time
	pool.QueryRow(ctx, `SELECT min(window_start), max(window_end) FROM ingest_runs`).Scan(&first, &last)
	if d := last.Sub(first); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("first run covered %v, want the last day", d)
	}
	if err := s.Once(ctx, "schedule"); err != nil {
		t.Fatal(err)
	}
	var start time.Time
	pool.QueryRow(ctx, `SELECT window_start FROM ingest_runs ORDER BY id DESC LIMIT 1`).Scan(&start)
	if d := last.Sub(start); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("second run started %v before the last window's end, want the 30 min overlap", d)
	}
	if !s.Trigger("manual") || s.Trigger("manual") {
		t.Error("trigger should queue once")
	}
}

// The ingest page shows each scheduler's plan: the first run soon after
// start, an on-demand run queued, then the next one an interval after
// the last.
func TestSchedulerStatus(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	srv := fakeRestd(t, serveJSON(200, full))
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
	in.cfg.Source = "rest"
	s := NewScheduler(in, store.Pool(), time.Hour, 30*time.Minute, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if st := s.Status(); !st.Next.IsZero() || !st.Running.IsZero() || st.Queued || st.Interval != time.Hour {
		t.Fatalf("before Run: %+v", st)
	}
	s.Trigger("manual")
	if !s.Status().Queued {
		t.Error("a triggered run is not reported queued")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-s.Done() }()
	start := time.Now()
	go s.Run(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.Status()
		// Done with the manual run: nothing queued or running, and the
		// next scheduled run an hour after it.
		if !st.Queued && st.Running.IsZero() && st.Next.After(start.Add(59*time.Minute)) {
			if st.Next.After(time.Now().Add(time.Hour)) {
				t.Errorf("next run %s is more than an hour away", st.Next)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never settled after the manual run: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
