package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	// The schedule, on the page and in the part the script polls.
	for _, path := range []string{"/admin/ingest", "/admin/ingest/live"} {
		_, body := b.get(path)
		for _, want := range []string{`data-testid="ingest-schedule"`, "on demand only", "none scheduled", "<td>idle</td>", `data-busy="false"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	if _, live := b.get("/admin/ingest/live"); strings.Contains(live, "<html") || !strings.Contains(live, `id="ingest-live"`) {
		t.Error("/admin/ingest/live is not the page's fragment")
	}
	resp, _ = b.post("/admin/ingest", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ingest now: %d", resp.StatusCode)
	}
	// The scheduler is not running here, so the run stays queued.
	if _, live := b.get("/admin/ingest/live"); !strings.Contains(live, "queued: starts shortly") || !strings.Contains(live, `<div id="ingest-live" data-ingest-live data-busy="true">`) {
		t.Error("the live part does not show the queued run as busy")
	}
	// The script's own post is answered in JSON, not with a redirect.
	req, _ := http.NewRequest("POST", e.http.URL+"/admin/ingest", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Tally-Fetch", "1")
	resp, body = b.do(req)
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(body, `"message": "An ingest is already queued."`) {
		t.Errorf("fetch post: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
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
	if resp, _ := r.get("/admin/ingest/live"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("researcher reads the ingest status: %d", resp.StatusCode)
	}
}

// With the script, "Ingest now" stays on the page: the run appears in
// the table and the schedule says it is done, without a reload.
func TestIngestNowFollowsTheRun(t *testing.T) {
	var sched *ingest.Scheduler
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		in, err := ingest.New(ingest.Config{Source: "sacct"}, jobstore.New(d.Pool), nil, nil, &slurm.Sacct{Path: "/nonexistent/sacct"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		sched = ingest.NewScheduler(in, d.Pool, time.Hour, time.Hour, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
		d.Ingest = sched
	})
	ctx, cancel := context.WithCancel(context.Background())
	go sched.Run(ctx)
	defer func() { cancel(); <-sched.Done() }()

	j := newJourney(t, e)
	j.login("tally-t-admin")
	var message, runs string
	var same bool
	j.run(chromedp.Navigate(j.base+"/admin/ingest"), chromedp.WaitVisible(`[data-testid=ingest-schedule]`),
		chromedp.Evaluate(`window.notReloaded = true`, nil),
		chromedp.Click(`form[data-ingest-now] button`, chromedp.NodeVisible),
		chromedp.WaitVisible(`#ingest-live[data-busy=false] table[data-sortable]`),
		chromedp.Poll(`document.querySelector("[data-ingest-message]").textContent.indexOf("Ingest finished") >= 0`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Text(`[data-ingest-message]`, &message),
		chromedp.Text(`#ingest-live`, &runs),
		chromedp.Evaluate(`window.notReloaded === true`, &same))
	j.shot("ingest-followed")
	if !same {
		t.Error("the page reloaded")
	}
	if !strings.Contains(runs, "manual") || !strings.Contains(runs, "every 1h") {
		t.Errorf("the live part lacks the manual run or the schedule: %q", runs)
	}
	if !strings.Contains(message, "Ingest finished") {
		t.Errorf("message %q", message)
	}
}
