package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/migrations"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/slurm/synth"
	"github.com/tally-hpc/tally/static"
	"github.com/tally-hpc/tally/web"
)

// demoAuth checks the demo users' printed passwords. It exists only in
// demo mode, which refuses to listen anywhere but loopback.
type demoAuth struct{ passwords map[string]string }

func (d demoAuth) Authenticate(ctx context.Context, user, password string) error {
	want, ok := d.passwords[user]
	if !ok {
		want = "\x00never" // compare anyway: same time for unknown users
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 || !ok {
		return errors.New("demo: user name or password not accepted")
	}
	return nil
}

type demoUser struct{ name, role string }

func demoUsers() []demoUser {
	return []demoUser{{"alice", "researcher"}, {"carol", "coordinator"}, {"admin", "admin"}, {"finance", "finance"}}
}

func randomPassword() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "demo", `demo [flags]

Starts Tally on two synthetic clusters, hpc (CPU partitions) and gpu
(GPU-heavy): generates a few months of jobs, serves each cluster through its
own in-process imitation of slurmrestd so the real ingest path loads them,
applies the sample rate card and the gpu cluster's own, closes the earlier
months as billing periods, and serves the portal. Demo users sign in with the
passwords printed at start-up. Loopback addresses only.`)
	if err := cfg.bind(fs, "database", "log", "http", "auth", "billing"); err != nil {
		return usageErr("%v", err)
	}
	reset := fs.Bool("reset", false, "empty the database and start over")
	months := fs.Int("months", 3, "months of history to generate")
	perDay := fs.Int("jobs-per-day", 400, "jobs submitted per day, over both clusters")
	seed := fs.Int64("seed", 7, "random seed (the same seed gives the same cluster)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return usageErr("%v", err)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return usageErr("--addr %q: %v", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageErr("demo mode signs people in with printed passwords, so it only listens on loopback (127.0.0.1); %s is not", host)
	}
	log := newLogger(&cfg, env)
	log.Warn("DEMO MODE: synthetic data and demo passwords; never expose this to a network")
	sessionKeys, err := cfg.sessionKeys()
	if err != nil {
		return fail("%v", err)
	}

	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	if *reset {
		fmt.Fprintln(env.stderr, "demo: resetting the database")
		if _, err := m.DownTo(ctx, 0); err != nil {
			m.Close()
			return fail("reset: %v", err)
		}
	}
	_, err = m.Up(ctx)
	m.Close()
	if err != nil {
		return fail("migrate: %v", err)
	}

	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := thisMonth.AddDate(0, -(*months - 1), 0)
	users := synth.DefaultUsers()
	creds := ingest.StaticCredential{Cred: slurm.Credential{User: "tally", Token: slurm.Token{Value: "demo-token", Expires: now.Add(24 * time.Hour)}}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var clusters []demoRunning
	dcs := demoClusters()
	for i, dc := range dcs {
		var jobs []slurm.Job
		perDay := max(*perDay*dc.share/100, 1)
		if err := synth.Generate(synth.Config{Seed: *seed + int64(i), From: from, To: now, JobsPerDay: perDay, Cluster: dc.name, Users: users,
			Partitions: dc.partitions, GPUTypes: dc.gpuTypes},
			func(j slurm.Job) error { jobs = append(jobs, j); return nil }); err != nil {
			return err
		}
		// One slurmrestd per cluster, each on its own port, as a site runs them.
		restd := &http.Server{Handler: synth.NewClusterRestd(dc.name, jobs, users, map[string][]string{"physics": {"carol"}}), ReadHeaderTimeout: 10 * time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail("demo slurmrestd for %s: %v", dc.name, err)
		}
		go restd.Serve(ln)
		defer restd.Close()
		restURL := "http://" + ln.Addr().String()
		client, _ := slurm.NewClient(restURL, nil)
		// Each slurmctld's live list is its own cluster's: the other
		// cluster's stays as its own refresh stored it.
		var others []string
		for _, o := range dcs {
			if o.name != dc.name {
				others = append(others, o.name)
			}
		}
		in, err := ingest.New(ingest.Config{Cluster: dc.name, Source: "rest", Window: 24 * time.Hour, APIVersion: "auto", OtherClusters: others},
			jobstore.New(pool), client, creds, nil, quiet)
		if err != nil {
			return err
		}
		clusters = append(clusters, demoRunning{demoCluster: dc, jobs: len(jobs), url: restURL, in: in})
	}

	var have int
	pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&have)
	if have == 0 {
		for _, c := range clusters {
			fmt.Fprintf(env.stderr, "demo: cluster %s (%s): %d synthetic jobs since %s, ingested through its demo slurmrestd at %s\n",
				c.name, strings.Join(c.partitions, ", "), c.jobs, from.Format("2006-01-02"), c.url)
			began := time.Now()
			done := 0
			_, err := c.in.Run(ctx, from, now.Add(time.Minute), ingest.Options{Trigger: "cli", Progress: func(r ingest.Report) {
				done += r.Counts.Total()
				if r.Index%10 == 0 || r.Index == r.Total {
					fmt.Fprintf(env.stderr, "demo: %s ingest window %d/%d · %d records · %.0f records/s\n", c.name, r.Index, r.Total, done, float64(done)/time.Since(began).Seconds())
				}
			}})
			if err != nil {
				return fail("demo ingest of %s: %v", c.name, err)
			}
			if _, _, err := c.in.SyncAssociations(ctx, ""); err != nil {
				return fail("demo associations of %s: %v", c.name, err)
			}
		}
		if err := demoBilling(ctx, env, pool, &cfg, from, thisMonth); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.stderr, "demo: using the %d jobs already in the database (--reset starts over)\n", have)
	}

	passwords := map[string]string{}
	for _, u := range demoUsers() {
		passwords[u.name] = randomPassword()
	}
	assets, err := static.New()
	if err != nil {
		return err
	}
	// Budgets are watched as serve watches them, with mail, webhook and
	// enforcement off (the budgets group is not bound): alerts are
	// recorded and shown on the pages, never sent, and Slurm is untouched.
	budgets, err := cfg.budgetRunner(pool, log)
	if err != nil {
		return err
	}
	budgets.Interval = 10 * time.Minute
	go budgets.Run(ctx)
	// Each cluster on its own schedule, as serve runs them: each run reads
	// the cluster's live job list too, for budgets' running costs.
	var webClusters []web.Cluster
	for _, c := range clusters {
		sched := ingest.NewScheduler(c.in, pool, 0, time.Hour, "", log)
		sched.After = func(ctx context.Context) {
			billingpg.New(pool).RateOpen(ctx, billingpg.RateOptions{Attribution: cfg.Attribution, Rounding: billing.Rounding(cfg.Rounding), OnlyChanged: true})
			budgets.Kick()
		}
		go sched.Run(ctx)
		// No key, so no tokens: the demo's people see what ingest stored.
		webClusters = append(webClusters, web.Cluster{Name: c.name, Ingest: sched})
	}
	wcfg, err := cfg.webConfig()
	if err != nil {
		return usageErr("%v", err)
	}
	wcfg.Version += " (demo)"
	// The demo's people, on the demo's clusters (coordinators of either
	// count); every protection as configured for serve.
	wcfg.Auth.AdminUsers, wcfg.Auth.FinanceUsers, wcfg.Auth.Cluster = []string{"admin"}, []string{"finance"}, clusters[0].name
	wcfg.Auth.MinUID = 0 // the demo's people are not Unix accounts
	srv, err := web.New(wcfg, web.Deps{Log: log, Pool: pool, Assets: assets, Ready: readiness(pool), Authn: demoAuth{passwords}, Clusters: webClusters,
		SessionKeys: sessionKeys, PDFFonts: cfg.pdfFonts(log)})
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Fprintf(env.stdout, "\nTally demo on http://%s — sign in as one of:\n", cfg.Addr)
	for _, u := range demoUsers() {
		fmt.Fprintf(env.stdout, "demo user: %s %s %s\n", u.name, u.role, passwords[u.name])
	}
	fmt.Fprintln(env.stdout, "Start with alice's dashboard and a job receipt; then admin's Rate cards and Ingest pages. Ctrl-C stops the demo.")
	return listenAndServe(ctx, &cfg, log, srv)
}

// demoCluster is one of the demo's synthetic clusters.
type demoCluster struct {
	name       string
	partitions []string
	gpuTypes   []string // of its gpu partitions; "" the generator's
	share      int      // percent of the jobs submitted per day
}

// demoClusters are a CPU cluster and a GPU-heavy one, so that a first look
// shows jobs, receipts and rate cards of more than one cluster.
func demoClusters() []demoCluster {
	return []demoCluster{
		{name: "hpc", partitions: []string{"cpu", "bigmem", "short", "usage"}, share: 75},
		{name: "gpu", partitions: []string{"gpu", "gpu-short"}, gpuTypes: []string{"h100", "a100", "a100"}, share: 25},
	}
}

// demoRunning is a demo cluster served and ready to ingest.
type demoRunning struct {
	demoCluster
	jobs int
	url  string
	in   *ingest.Ingester
}

// demoGPUCard is the GPU cluster's own rate card: the standard card prices
// every cluster, this one (preferred where it applies) the gpu cluster's
// partitions, GPUs by type.
const demoGPUCard = `name: gpu-cluster
currency: USD
minor_digits: 2
cluster: gpu
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    basis: requested
    charged_states: [COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, PREEMPTED, CANCELLED]
    qos:
      normal: "1.0"
      standby: "0.5"
      debug: "0"
    partitions:
      gpu:       {combine: sum, cpu: "0.01", mem: "0.002", gpu: "1.20", gpu_types: {a100: "2.20", h100: "3.60"}}
      gpu-short: {combine: sum, cpu: "0.01", mem: "0.002", gpu: "1.20", gpu_types: {a100: "2.20", h100: "3.60"}, min_charge: "0.10"}
`

// demoBilling applies the sample card and the GPU cluster's, makes monthly
// periods, rates every job and closes the months before this one.
func demoBilling(ctx context.Context, env *cmdEnv, pool *pgxpool.Pool, cfg *Config, from, thisMonth time.Time) error {
	store := billingpg.New(pool)
	cards, err := billing.StandardCards()
	if err != nil {
		return err
	}
	gpuCard, err := billing.ParseRateFile(strings.NewReader(demoGPUCard), nil)
	if err != nil {
		return err
	}
	for _, cs := range []billing.Cards{cards, gpuCard} {
		if _, err := store.Import(ctx, cs, "demo"); err != nil {
			return fail("demo rate card: %v", err)
		}
	}
	if err := store.EnsureMonths(ctx, from, thisMonth.AddDate(0, 1, 0)); err != nil {
		return fail("demo periods: %v", err)
	}
	sum, err := store.RateOpen(ctx, billingpg.RateOptions{Attribution: cfg.Attribution, Rounding: billing.Rounding(cfg.Rounding)})
	if err != nil {
		return fail("demo rating: %v", err)
	}
	fmt.Fprintf(env.stderr, "demo: rated %d jobs (%d charges) in %s\n", sum.Jobs, sum.Charges, sum.Took.Round(time.Millisecond))
	pol, err := store.Policy(ctx, billing.Rounding(cfg.Rounding))
	if err != nil {
		return fail("demo rounding policy: %v", err)
	}
	for m := from; m.Before(thisMonth); m = m.AddDate(0, 1, 0) {
		ps, err := store.ClosePeriod(ctx, m.Format("2006-01"), "demo", billing.Rounding(cfg.Rounding))
		if err != nil {
			return fail("demo close: %v", err)
		}
		fmt.Fprintf(env.stderr, "demo: closed %s: %d statements, %d jobs, total %s\n", ps.Period.Name, len(ps.Statements), ps.Jobs, pol.Money(ps.Total, ps.Currency))
	}
	return demoBudgets(ctx, env, store, pol, cards[0].Currency, from, thisMonth, billing.Rounding(cfg.Rounding))
}

// demoBudgets gives every account a budget for the demo's months and the
// next two, sized from what it has spent so far: most with room to
// spare, the busiest account at about 85 % (so a first look shows a
// warning and a forecast), and one a core-hours budget.
func demoBudgets(ctx context.Context, env *cmdEnv, store *billingpg.Store, pol billing.Policy, currency string, from, thisMonth time.Time, rule billing.Rounding) error {
	details, err := store.AccountDetailsAll(ctx)
	if err != nil {
		return fail("demo budgets: %v", err)
	}
	ends := thisMonth.AddDate(0, 3, 0)
	var budgets []billing.Budget
	for _, d := range details {
		budgets = append(budgets, billing.Budget{Account: d.Account, Unit: billing.UnitMoney, Currency: currency, Amount: 1, Starts: from, Ends: ends, UpdatedBy: "demo"})
	}
	if len(budgets) == 0 {
		return nil
	}
	// What each has spent so far decides its size.
	bals, err := store.Balances(ctx, budgets, nil, time.Now(), rule)
	if err != nil {
		return fail("demo budgets: %v", err)
	}
	busiest := 0
	for i, b := range bals {
		if b.Charged > bals[busiest].Charged {
			busiest = i
		}
	}
	for i, bal := range bals {
		b := bal.Budget
		// Room for three times the spending so far; the busiest only 85 %.
		b.Amount = max(bal.Charged*3, 1_000*billing.MicrosPerUnit)
		if i == busiest {
			b.Amount = max(bal.Charged*100/85, billing.MicrosPerUnit)
			b.RunsOutDays = 30
		}
		saved, _, err := store.SetBudget(ctx, b)
		if err != nil {
			return fail("demo budget for %s: %v", b.Account, err)
		}
		if i == busiest {
			fmt.Fprintf(env.stderr, "demo: budget %s (near its limit)\n", pol.Describe(saved))
		}
		if i == (busiest+1)%len(bals) {
			cores := billing.Budget{Account: b.Account, Unit: billing.UnitCoreHours, Amount: 500_000 * 3600, Starts: from, Ends: ends, UpdatedBy: "demo"}
			if _, _, err := store.SetBudget(ctx, cores); err != nil {
				return fail("demo core-hours budget for %s: %v", b.Account, err)
			}
		}
	}
	fmt.Fprintf(env.stderr, "demo: %d accounts have budgets to %s\n", len(bals), ends.AddDate(0, -1, 0).Format("2006-01"))
	return nil
}
