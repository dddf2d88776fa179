package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

func TestAdminIngestPage(t *testing.T) {
	var sched *ingest.Scheduler
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		in, err := ingest.New(ingest.Config{Source: "sacct"}, jobstore.New(d.Pool), nil, nil, &slurm.Sacct{Path: "/nonexistent/sacct"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		sched = ingest.NewScheduler(in, d.Pool, 0, time.Hour, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
		d.Ingest = sched
	})
	ctx := context.Background()
	var runID int64
	err := e.srv.pool.QueryRow(ctx, `INSERT INTO ingest_runs (window_start, window_end, source, trigger, started_at, finished_at, jobs_new, jobs_rejected)
		VALUES (now() - interval '1 day', now() - interval '10 minutes', 'sacct', 'schedule', now(), now(), 12, 1) RETURNING id`).Scan(&runID)
	if err != nil {
		t.Fatal(err)
	}
	// A window slurmrestd could not serve, read with sacct instead: the
	// fallback must not be silent.
	e.srv.pool.Exec(ctx, `INSERT INTO ingest_runs (window_start, window_end, source, fallback_reason, trigger, started_at, finished_at)
		VALUES (now() - interval '20 minutes', now() - interval '10 minutes', 'sacct', 'rest failed: slurmrestd offers no slurmdb jobs endpoint', 'schedule', now(), now())`)
	e.srv.pool.Exec(ctx, `INSERT INTO ingest_runs (window_start, window_end, source, fallback_reason, trigger, started_at, finished_at, error)
		VALUES (now() - interval '10 minutes', now(), 'none', 'rest failed: connection refused', 'schedule', now(), now(), 'sacct exited 1: Problem talking to the database')`)
	e.srv.pool.Exec(ctx, `INSERT INTO ingest_rejects (run_id, source, line_no, raw, error) VALUES ($1, 'sacct', 7, $2, '3 fields, want 24')`,
		runID, "2"+slurm.SacctDelimiter+"2"+slurm.SacctDelimiter+"x")

	b := newBrowser(t, e)
	b.login("tally-t-admin", "tally-admin-pw", "/")
	resp, body := b.get("/admin/ingest")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{"10 min", "Problem talking to the database", "3 fields, want 24", "2 ␟ 2 ␟ x", "Ingest now", ">12<",
		`data-testid="ingest-fallback"`, "the last 1 ingest windows were read with sacct", "offers no slurmdb jobs endpoint"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp, _ = b.post("/admin/ingest", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ingest now: %d", resp.StatusCode)
	}
	if _, body = b.get("/admin/ingest"); !strings.Contains(body, "Ingest started") {
		t.Error("no confirmation")
	}
	b.post("/admin/ingest", nil)
	if _, body = b.get("/admin/ingest"); !strings.Contains(body, "already queued") {
		t.Error("second trigger not reported as queued")
	}
	if _, metrics := b.get("/metrics"); !strings.Contains(metrics, "tally_ingest_fallback_windows_since_rest 1") {
		t.Error("/metrics does not count the fallback")
	}
	r := newBrowser(t, e)
	r.login("tally-t-alice", "tally-alice-pw", "/")
	if resp, _ := r.post("/admin/ingest", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("researcher triggered ingest: %d", resp.StatusCode)
	}
}
