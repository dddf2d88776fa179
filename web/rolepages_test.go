package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// Issue 22.7: a partition billed by the CPU time used is estimated from
// the CPU use the person expects (by default every CPU busy throughout),
// not as 0.00; the result comes above the form, which links the prices.
func TestEstimateCPUTimePartitionPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string // the total, or the refusal
	}{
		{"full use by default", url.Values{}, "0.30 USD"},
		{"efficiency 50 %", url.Values{"cpu_efficiency": {"50"}}, "0.15 USD"},
		{"CPU time given", url.Values{"cpu_time": {"02:00:00"}}, "0.06 USD"},
		{"CPU time wins", url.Values{"cpu_time": {"02:00:00"}, "cpu_efficiency": {"50"}}, "0.06 USD"},
		{"efficiency past 100", url.Values{"cpu_efficiency": {"150"}}, "CPU efficiency"},
		{"zero CPU time", url.Values{"cpu_time": {"0"}}, "give more than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"partition": {"usage"}, "cpus": {"4"}, "time": {"02:30:00"}, "qos": {"normal"}}
			for k, v := range tc.query {
				q[k] = v
			}
			resp, body := b.get("/estimate?" + q.Encode())
			body = html.UnescapeString(body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(body, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, body)
			}
			if !strings.Contains(body, `href="/prices"`) {
				t.Error("the estimate does not link the price list")
			}
			res, form := strings.Index(body, `data-testid="estimate-result"`), strings.Index(body, `action="/estimate"`)
			if strings.HasSuffix(tc.want, "USD") && (res < 0 || res > form) {
				t.Errorf("the result (at %d) is not above the form (at %d)", res, form)
			}
		})
	}
}

// Issue 22.7: every signed-in person can read the prices in force, per
// partition in words and as a table, with no account's own prices.
func TestPricesPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	resp, body := b.get("/prices")
	body = html.UnescapeString(body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		"Rate card <strong>standard v2</strong>",
		"<strong>cpu</strong>: Charges 0.03 USD per core-hour, 0.005 USD per GiB-hour of memory, for what the job asked for",
		"<strong>usage</strong>: Charges 0.03 USD per CPU-hour the job actually used",
		"<strong>bigmem</strong>: Charges the largest one of",
		"a100 2.50", "Charges at least 0.05 USD per job", "debug ×0, normal ×1, standby ×0.5 (any other QOS ×1)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the price list lacks %q", want)
		}
	}
	if strings.Contains(body, "departmental subsidy") {
		t.Error("the price list shows one account's discount")
	}
}

// Issue 22.7: Your account lists the person's accounts (associations,
// then accounts only their jobs name) and says how records arrive: the
// configured source and schedule and how far they are complete, never
// that Tally is not connected when ingest reads Slurm.
func TestMeAccountsAndIngestSource(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		in, err := ingest.New(ingest.Config{Source: "sacct"}, jobstore.New(d.Pool), nil, nil, &slurm.Sacct{Path: "/nonexistent/sacct"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		d.Ingest = ingest.NewScheduler(in, d.Pool, 10*time.Minute, time.Hour, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	seedBilling(t, e)
	ctx := context.Background()
	cluster := e.srv.clusters[0].Name
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO slurm_associations (cluster, account, username, is_default) VALUES ($1, 'chem', 'tally-t-alice', true)`, cluster); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO ingest_runs (cluster, window_start, window_end, source, fallback_reason, trigger, started_at, finished_at)
		VALUES ($1, '2026-11-30 10:00+00', '2026-12-01 10:00+00', 'sacct', 'rest failed: secret-host.example:6820 refused', 'schedule', now(), now())`, cluster); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	resp, body := b.get("/me")
	body = html.UnescapeString(body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`href="/jobs?account=chem">chem</a>`, `<span class="badge">default</span>`,
		`href="/jobs?account=physics">physics</a>`, "(your jobs name it; no association Tally read does)",
		"Tally reads every job record of this cluster with Slurm's sacct command, as its own service identity, every 10m0s.",
		"Records are complete up to 20",
		"so they were read with sacct instead",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("Your account lacks %q", want)
		}
	}
	for _, not := range []string{"secret-host", "not connected"} {
		if strings.Contains(body, not) {
			t.Errorf("Your account says %q", not)
		}
	}
}

func TestIngestSourceWords(t *testing.T) {
	for _, tc := range []struct {
		source string
		every  time.Duration
		want   string
	}{
		{"rest", 5 * time.Minute, "from slurmrestd (Slurm's REST API), as its own service identity, every 5m0s."},
		{"sacct", 0, "with Slurm's sacct command, as its own service identity, when an admin asks"},
		{"auto", time.Hour, "from slurmrestd (Slurm's REST API), and with sacct whenever slurmrestd fails, as its own service identity, every 1h0m0s."},
	} {
		if got := ingestSourceWords(tc.source, tc.every); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.source, got, tc.want)
		}
	}
}

// octoberClosed stores October jobs of three people in two accounts and
// closes 2026-10 (tally-t-coord coordinates physics).
func octoberClosed(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := context.Background()
	end := time.Date(2026, 10, 10, 12, 0, 0, 0, time.UTC)
	var jobs []slurm.Job
	for i, ua := range [][2]string{{"tally-t-alice", "physics"}, {"tally-t-coord", "physics"}, {"tally-t-coord", "chem"}, {"tally-t-fin", "chem"}} {
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: int64(600 + i), Submit: end.Add(-2 * time.Hour), Start: end.Add(-2 * time.Hour), End: end,
			User: ua[0], Account: ua[1], Partition: "cpu", QOS: "normal", State: "COMPLETED", ElapsedSeconds: 7200,
			Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}})
	}
	storeJobs(t, e, time.Unix(0, 0), time.Unix(1, 0), jobs...)
	store := billingpg.New(e.srv.pool)
	if err := store.EnsureMonths(ctx, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Now().AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp); err != nil {
		t.Fatal(err)
	}
}

// Issue 22.8: the dashboard's line about the last closed period covers
// exactly the scope of its tiles, and says which in words: for a
// coordinator, their own jobs and the accounts they coordinate.
func TestDashboardLastClosedCoversTheTilesScope(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	octoberClosed(t, e)
	for _, tc := range []struct {
		user, pw   string
		jobs       string
		total      string
		scope      string
		periodLink bool
	}{
		// coord: own jobs 601, 602 and physics' 600: 0.05 + 0.05 + chem's 0.045 → 0.05.
		{"tally-t-coord", "tally-coord-pw", "3", "0.15 USD", "your jobs and the accounts you coordinate", true},
		{"tally-t-alice", "tally-alice-pw", "1", "0.05 USD", "your jobs", false},
		{"tally-t-admin", "tally-admin-pw", "4", "0.19 USD", "the whole cluster", true},
	} {
		t.Run(tc.user, func(t *testing.T) {
			b := newBrowser(t, e)
			b.login(tc.user, tc.pw, "/")
			resp, body := b.get("/")
			body = html.UnescapeString(body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, want := range []string{
				"2026-10 is closed: for " + tc.scope + ", the same scope as the figures above",
				`data-testid="last-statement-total">` + tc.total + "<",
				`data-testid="last-statement-jobs">` + tc.jobs + "<",
				"Figures for " + tc.scope + ".",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("dashboard lacks %q", want)
				}
			}
			if got := strings.Contains(body, `href="/periods/2026-10"`); got != tc.periodLink {
				t.Errorf("links the period's statements: %v, want %v", got, tc.periodLink)
			}
		})
	}
}

// Issue 22.8: the account page shows GPU-hours, lets its figures cover a
// chosen period, and lists the jobs that wasted most (billing.Waste(): a
// GPU job idling its CPUs for hundreds of dollars), linking each receipt
// and the job list of every wasteful job; coordinators' dashboards too.
func TestAccountPagePeriodGPUHoursAndWaste(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows := seedBilling(t, e)
	octoberClosed(t, e)
	ctx := context.Background()
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	job := func(id int64, partition string, cpus, gpus, effPct int64, hours int64) slurm.Job {
		secs := hours * 3600
		used := cpus * secs * effPct * 10_000 // µs
		res := slurm.TRES{CPU: cpus, MemMiB: 1024, Nodes: 1, GPU: gpus}
		if gpus > 0 {
			res.GPUByType = map[string]int64{"a100": gpus}
		}
		return slurm.Job{Cluster: "testbed", JobID: id, Submit: end.Add(-time.Duration(secs) * time.Second), Start: end.Add(-time.Duration(secs) * time.Second),
			End: end, User: "tally-t-alice", Account: "physics", Partition: partition, QOS: "normal", State: "COMPLETED", ElapsedSeconds: secs,
			CPUTimeMicros: used, Requested: res, Allocated: res,
			Steps: []slurm.Step{{ID: "batch", Name: "batch", State: "COMPLETED", ElapsedSeconds: secs, CPUTimeMicros: used, Tasks: 1, NodeList: "gpu01"}}, StepCount: 1}
	}
	storeJobs(t, e, end.Add(-time.Minute), end.Add(time.Minute),
		job(700, "gpu", 8, 4, 3, 48),  // 4 A100s at 3 % for about 500 USD: wasteful
		job(701, "gpu", 8, 4, 95, 48), // as dear, but busy
		job(702, "cpu", 1, 0, 1, 1),   // idle, but for cents
	)
	if _, err := billingpg.New(e.srv.pool).RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	var waster int64
	e.srv.pool.QueryRow(ctx, `SELECT id FROM jobs WHERE job_id = 700`).Scan(&waster)
	_ = rows

	b := newBrowser(t, e)
	b.login("tally-t-coord", "tally-coord-pw", "/")
	resp, body := b.get("/accounts/physics")
	body = html.UnescapeString(body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-testid="account-gpu-hours">384.00<`, // 2 jobs × 4 GPUs × 48 h
		`data-testid="period-choice"`, `href="/accounts/physics?period=2026-10">2026-10</a>`,
		"Jobs that wasted most", `href="/jobs/testbed/700">700</a>`, "3%",
		"charged 10.00 USD or more while using under 20% of the CPU time they held",
		`href="/jobs?account=physics&amp;from=`,
	} {
		if !strings.Contains(body, want) && !strings.Contains(body, html.UnescapeString(want)) {
			t.Errorf("account page lacks %q", want)
		}
	}
	for _, not := range []string{`href="/jobs/` + fmt.Sprint(rows[101]) + `">101</a></td><td>tally-t-alice</td><td>cpu`, ">701</a></td><td>tally-t-alice</td><td>gpu", ">702</a></td><td>tally-t-alice</td><td>cpu"} {
		if strings.Contains(body, not) {
			t.Errorf("account page lists %q as wasteful", not)
		}
	}
	// The chosen period covers October's figures: two physics jobs there.
	_, body = b.get("/accounts/physics?period=2026-10")
	if !strings.Contains(body, `data-testid="account-jobs">2<`) || !strings.Contains(body, "Account physics · period 2026-10") {
		t.Error("?period=2026-10 does not show October's figures")
	}
	if resp, body := b.get("/accounts/physics?period=1999-01"); resp.StatusCode != 400 || !strings.Contains(body, "no billing period") {
		t.Errorf("an unknown period: %d", resp.StatusCode)
	}
	// The job list's filter lists exactly the wasteful one.
	_, body = b.get("/jobs?account=physics&wasteful=1")
	if !strings.Contains(body, `href="/jobs/testbed/700"`) || strings.Contains(body, ">701<") || strings.Contains(body, ">702<") ||
		!strings.Contains(body, `data-testid="wasteful-rule"`) {
		t.Errorf("wasteful=1 does not list exactly job 700:\n%s", body)
	}
	// The coordinator's dashboard lists it too.
	_, body = b.get("/")
	if !strings.Contains(body, "Jobs that wasted most") || !strings.Contains(body, `href="/jobs/testbed/700">700</a>`) {
		t.Error("the coordinator's dashboard does not list the wasteful job")
	}
}
