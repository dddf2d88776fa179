package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/slurm/synth"
)

// soakConfig reads TALLY_SOAK (how long; the test is skipped without it)
// and TALLY_SOAK_USERS (default 200). scripts/test.sh runs a short one,
// `make soak` the five-minute one with ingest every 30 s.
func soakConfig(t *testing.T) (d time.Duration, users int, ingestEvery time.Duration) {
	d, err := time.ParseDuration(os.Getenv("TALLY_SOAK"))
	if err != nil {
		t.Skip("set TALLY_SOAK=5m (make soak) to run the soak")
	}
	users, ingestEvery = 200, 30*time.Second
	if d < 2*time.Minute {
		ingestEvery = 5 * time.Second
	}
	if v := os.Getenv("TALLY_SOAK_USERS"); v != "" {
		users, _ = strconv.Atoi(v)
	}
	if v, err := time.ParseDuration(os.Getenv("TALLY_SOAK_INGEST")); err == nil {
		ingestEvery = v
	}
	return
}

// Simulated people browse and export while ingest runs on its schedule:
// no request fails, latency stays bounded, memory does not grow, and every
// database connection is returned.
func TestSoak(t *testing.T) {
	duration, users, every := soakConfig(t)
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.PageTimeout = 30 * time.Second
		c.Auth.MaxFailuresPerAddress = 1000
		// The simulated people share four Unix accounts, and a sign-in
		// counts as an attempt until it succeeds: a dozen of one account's
		// sign-ins in flight on a busy machine would be throttled.
		c.Auth.MaxFailuresPerUser = 1000
		resizePool(t, d, 16) // what tally serve opens
	})
	pool := e.srv.pool
	ctx := context.Background()

	// Thirty days of a cluster's records behind an imitation slurmrestd,
	// ingested through the real REST path, then rated.
	now := time.Now().UTC()
	people := []synth.User{{Name: "tally-t-alice", Accounts: []string{"physics"}}, {Name: "tally-t-coord", Accounts: []string{"physics", "chem"}},
		{Name: "tally-t-fin", Accounts: []string{"chem"}}, {Name: "tally-t-admin", Accounts: []string{"bio"}}}
	people = append(people, synth.MakeUsers(40, 5)...)
	var jobs []slurm.Job
	synth.Generate(synth.Config{Seed: 9, From: now.AddDate(0, 0, -30), To: now, JobsPerDay: 1500, Cluster: "testbed", Users: people,
		Partitions: []string{"cpu", "gpu", "bigmem", "short", "usage"}}, func(j slurm.Job) error { jobs = append(jobs, j); return nil })
	cluster := synth.NewRestd(jobs, people, map[string][]string{"physics": {"tally-t-coord"}})
	restd := httptest.NewServer(cluster)
	defer restd.Close()
	client, _ := slurm.NewClient(restd.URL, nil)
	creds := ingest.StaticCredential{Cred: slurm.Credential{User: "tally", Token: slurm.Token{Value: "soak", Expires: now.Add(24 * time.Hour)}}}
	in, err := ingest.New(ingest.Config{Source: "rest", Window: 24 * time.Hour, APIVersion: "auto"}, jobstore.New(pool), client, creds, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Run(ctx, now.AddDate(0, 0, -31), now, ingest.Options{Trigger: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.SyncAssociations(ctx, ""); err != nil {
		t.Fatal(err)
	}
	store := importStandardCard(t, pool)
	month := monthStart(now)
	store.EnsureMonths(ctx, month.AddDate(0, -2, 0), month.AddDate(0, 1, 0))
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	var rows []int64
	r, _ := pool.Query(ctx, `SELECT id FROM jobs WHERE username = 'tally-t-alice' LIMIT 200`)
	for r.Next() {
		var id int64
		r.Scan(&id)
		rows = append(rows, id)
	}
	r.Close()

	// Unloaded latency, one person at a time, for comparison.
	for _, who := range []string{"tally-t-alice", "tally-t-admin"} {
		b := newBrowser(t, e)
		b.login(who, pamUsers[who], "/")
		for _, p := range []string{"/", "/jobs?sort=end", "/statements", "/accounts/physics", "/jobs?partition=gpu&state=COMPLETED", "/jobs.csv?from=" + now.AddDate(0, 0, -3).Format("2006-01-02")} {
			began := time.Now()
			b.get(p)
			b.get(p)
			t.Logf("unloaded %s %s: %s", who, p, (time.Since(began) / 2).Round(time.Millisecond))
		}
	}

	// The cluster keeps working: TALLY_SOAK_ARRIVALS jobs a day (default
	// 200,000, a large centre's busiest) end and appear in the accounting
	// records, for the scheduled ingest to find. Each is generated with its
	// own run time and moved back in time so it has just ended.
	arrivals := 200_000
	if v, err := strconv.Atoi(os.Getenv("TALLY_SOAK_ARRIVALS")); err == nil {
		arrivals = v
	}
	var arrived int
	clusterCtx, stopCluster := context.WithCancel(ctx)
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		next, from := int64(10_000_000), time.Now().UTC()
		for tick := time.NewTicker(2 * time.Second); ; {
			select {
			case <-clusterCtx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			to := time.Now().UTC()
			var arriving []slurm.Job
			synth.Generate(synth.Config{Seed: next, From: from, To: to, JobsPerDay: arrivals, Cluster: "testbed", Users: people,
				Partitions: []string{"cpu", "gpu", "bigmem", "short"}, FirstJobID: next}, func(j slurm.Job) error {
				// Jobs that would end after to arrive running (the generator
				// writes what slurmdbd holds at to).
				next = max(next, j.JobID+1)
				arriving = append(arriving, j)
				return nil
			})
			from = to
			arrived += len(arriving)
			cluster.Add(arriving...)
		}
	}()

	// Ingest on its schedule throughout, as serve runs it.
	sched := ingest.NewScheduler(in, pool, every, time.Hour, "/bin/false", slog.New(slog.NewTextHandler(io.Discard, nil)))
	// When each scheduled run's rating finished, to set slow requests
	// beside the background work (TALLY_SOAK_SAMPLES).
	var ratedMu sync.Mutex
	var rated []time.Time
	sched.After = func(ctx context.Context) {
		store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp, OnlyChanged: true})
		ratedMu.Lock()
		rated = append(rated, time.Now())
		ratedMu.Unlock()
	}
	sctx, stopSched := context.WithCancel(ctx)
	go sched.Run(sctx)
	sched.Trigger("manual") // ingest_runs.trigger allows schedule, cli, manual, login, test

	memAt := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// The heap once everyone has signed in and browsed a while.
	var warmHeap atomic.Uint64
	warmTimer := time.AfterFunc(duration*3/10, func() { warmHeap.Store(memAt()) })
	defer warmTimer.Stop()
	plan := soakPlan{URL: e.http.URL, Users: users, Duration: duration, Passwords: pamUsers, Receipts: rows,
		Logins: []string{"tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"}, CSVFrom: now.AddDate(0, 0, -3).Format("2006-01-02")}
	// Latency is reported once everyone has signed in (the first tenth of
	// the run, while password hashing competes for the CPU, is warm-up).
	steady := time.Now().Add(duration / 10)
	// TALLY_SOAK_CPUPROFILE: where Tally's process spends the soak's CPU
	// (go tool pprof -top web.test FILE).
	if path := os.Getenv("TALLY_SOAK_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	all, err := plan.runElsewhere(t)
	if path := os.Getenv("TALLY_SOAK_CPUPROFILE"); path != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		t.Fatal(err)
	}
	stopCluster()
	<-clusterDone
	stopSched()
	<-sched.Done()
	// Whatever the last scheduled run left (one cut short by the stop),
	// the queue still holds: one more run leaves no ended job unrated.
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp, OnlyChanged: true}); err != nil {
		t.Fatal(err)
	}
	var unrated int
	pool.QueryRow(ctx, `SELECT count(*) FROM jobs j WHERE end_time IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM job_charges c WHERE c.job_row = j.id)`).Scan(&unrated)
	if unrated > 0 {
		t.Errorf("%d ended jobs have no charge after the soak", unrated)
	}
	heapEnd, heapWarm := memAt(), warmHeap.Load()
	if path := os.Getenv("TALLY_SOAK_SAMPLES"); path != "" {
		writeSoakTimeline(t, path, pool, all, rated)
	}

	byPage := map[string][]time.Duration{}
	var failures []string
	warm := 0
	for _, s := range all {
		if s.Err != "" {
			failures = append(failures, s.Err)
			continue
		}
		if s.At.Before(steady) {
			warm++
			continue
		}
		byPage[s.Page] = append(byPage[s.Page], s.Took)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "soak: %d users (load generated by a separate process), %s, ingest every %s: %d requests, %d failed; latency of the %d after the sign-in ramp (first tenth)\n",
		users, duration, every, len(all), len(failures), len(all)-len(failures)-warm)
	fmt.Fprintf(&report, "| page | requests | p50 | p99 |\n|---|---|---|---|\n")
	pages := make([]string, 0, len(byPage))
	for p := range byPage {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	for _, p := range pages {
		ds := byPage[p]
		slices.Sort(ds)
		fmt.Fprintf(&report, "| %s | %d | %s | %s |\n", p, len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)*99/100].Round(time.Millisecond))
	}
	var runs, newJobs int
	pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(jobs_new), 0) FROM ingest_runs WHERE trigger IN ('schedule', 'manual') AND source <> 'none'`).Scan(&runs, &newJobs)
	fmt.Fprintf(&report, "the cluster: %d jobs ended during the soak (%d a day); scheduled ingest stored %d new jobs, rated after each run\n",
		arrived, arrivals, newJobs)
	stat := pool.Stat()
	fmt.Fprintf(&report, "scheduled ingest runs: %d; heap after warm-up %d MB, at the end %d MB; pool: %d acquired, %d total of %d\n",
		runs, heapWarm>>20, heapEnd>>20, stat.AcquiredConns(), stat.TotalConns(), stat.MaxConns())
	t.Log("\n" + report.String())
	if p := os.Getenv("TALLY_SOAK_REPORT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}

	if len(failures) > 0 {
		t.Errorf("%d requests failed, first: %s", len(failures), failures[0])
	}
	if runs < 2 {
		t.Errorf("only %d scheduled ingest runs during the soak", runs)
	}
	if stat.AcquiredConns() != 0 {
		t.Errorf("%d database connections still held after the soak: a leak", stat.AcquiredConns())
	}
	if heapWarm > 0 && heapEnd > heapWarm*3/2+16<<20 {
		t.Errorf("heap grew from %d MB to %d MB", heapWarm>>20, heapEnd>>20)
	}
	// The pages' p99 target is checked only when TALLY_SOAK_P99 asks for
	// one (make soak: 100 ms over five minutes). The 20 s run in make test
	// shares two cores with whatever else the machine does, so its
	// latencies are reported, not judged: a timed assertion there fails
	// by chance (774 ms once on CI for a page whose p50 is 50 ms).
	// Exports stream whole files and are not pages.
	limit, err := time.ParseDuration(os.Getenv("TALLY_SOAK_P99"))
	if err != nil {
		return
	}
	for _, p := range []string{"dashboard", "jobs", "jobs filtered", "account", "receipt", "statements"} {
		ds := byPage[p]
		if len(ds) > 0 && ds[len(ds)*99/100] > limit {
			t.Errorf("%s p99 %s, over %s", p, ds[len(ds)*99/100], limit)
		}
	}
}

// resizePool gives the server a pool of n connections to the same database.
func resizePool(t *testing.T, d *Deps, n int32) {
	t.Helper()
	cfg := d.Pool.Config().Copy()
	cfg.MaxConns = n
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	d.Pool = p
}

// writeSoakTimeline writes every request of the soak (start, page,
// milliseconds) and every scheduled ingest window and rating, as CSV
// sorted by time, for finding what the slow requests ran beside.
func writeSoakTimeline(t *testing.T, path string, pool *pgxpool.Pool, all []soakSample, rated []time.Time) {
	type event struct {
		at   time.Time
		line string
	}
	var evs []event
	for _, s := range all {
		evs = append(evs, event{s.At, fmt.Sprintf("request,%s,%d", s.Page, s.Took.Milliseconds())})
	}
	rows, err := pool.Query(context.Background(), `SELECT started_at, finished_at, jobs_new FROM ingest_runs WHERE trigger <> 'test'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var from, to time.Time
		var n int
		rows.Scan(&from, &to, &n)
		evs = append(evs, event{from, fmt.Sprintf("ingest window,%d new,%d", n, to.Sub(from).Milliseconds())})
	}
	rows.Close()
	for _, at := range rated {
		evs = append(evs, event{at, "rating done,,"})
	}
	slices.SortFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	var b strings.Builder
	b.WriteString("at,what,detail,ms\n")
	for _, e := range evs {
		fmt.Fprintf(&b, "%s,%s\n", e.at.Format("15:04:05.000"), e.line)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
