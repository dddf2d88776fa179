package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/replica"
)

// TestPagesAtScale measures the dashboard and the job list for a person
// with 100,000 jobs in a database of 5,000,000 (TALLY_SCALE_JOBS and
// TALLY_SCALE_USER_JOBS change the sizes): latency one request at a time,
// then throughput and p99 with 50 and 200 clients, each for a bounded
// time on loopback. `make bench` runs it; go test skips it without
// TALLY_SCALE_JOBS.
func TestPagesAtScale(t *testing.T) {
	total, err := strconv.Atoi(os.Getenv("TALLY_SCALE_JOBS"))
	if err != nil || total <= 0 {
		t.Skip("set TALLY_SCALE_JOBS=5000000 (make bench) to measure pages at scale")
	}
	mine := 100_000
	if v, err := strconv.Atoi(os.Getenv("TALLY_SCALE_USER_JOBS")); err == nil {
		mine = v
	}
	// TALLY_SCALE_REPLICA=1: the database is a private primary with a
	// streaming replica, and the pages are measured twice, served from
	// the primary and from the replica.
	var rep *scaleReplica
	if os.Getenv("TALLY_SCALE_REPLICA") != "" {
		rep = newScaleReplica(t)
	}
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		if rep != nil {
			d.Pool = rep.primary
			d.Ready = func(ctx context.Context) error { return rep.primary.Ping(ctx) }
		}
		resizePool(t, d, 16) // what tally serve opens
	})
	ctx := context.Background()
	pool := e.srv.pool
	began := time.Now()
	now := time.Now().UTC()
	// total jobs over the last 180 days, every 50th... the first `mine` of
	// them belong to tally-t-alice, the rest to 2,000 others.
	if _, err := pool.Exec(ctx, `SELECT ensure_month_partitions($1, $2)`, now.AddDate(0, 0, -200), now); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO jobs (cluster, job_id, submit_time, name, username, account, partition, qos, state,
			start_time, end_time, elapsed_seconds, cpu_time_us, req_cpu, req_mem_mib, req_nodes, req_gpu, alloc_cpu, alloc_mem_mib, alloc_nodes,
			content_hash, source)
		SELECT 'scale', g, e - interval '2 hours', 'job-' || g,
			CASE WHEN g <= $2 THEN 'tally-t-alice' ELSE 'user' || (g % 2000) END,
			(ARRAY['physics','chem','bio','astro','cs'])[1 + g % 5], (ARRAY['cpu','cpu','cpu','gpu','bigmem'])[1 + g % 5], 'normal', 'COMPLETED',
			e - interval '1 hour', e, 3600, 1800000000, 4, 8192, 1, CASE WHEN g % 5 = 3 THEN 1 ELSE 0 END, 4, 8192, 1, md5(g::text), 'rest'
		FROM (SELECT g, $3::timestamptz - (g % 180) * interval '1 day' - (g % 86400) * interval '1 second' AS e
		      FROM generate_series(1, $1::bigint) g) s`, total, mine, now); err != nil {
		t.Fatal(err)
	}
	store := importStandardCard(t, pool)
	month := monthStart(now)
	store.EnsureMonths(ctx, month.AddDate(0, -6, 0), month.AddDate(0, 1, 0))
	sum, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp})
	if err != nil {
		t.Fatal(err)
	}
	pool.Exec(ctx, `VACUUM ANALYZE jobs`)
	pool.Exec(ctx, `VACUUM ANALYZE job_charges`)
	pool.Exec(ctx, `VACUUM ANALYZE usage_daily`)
	t.Logf("database of %d jobs (%d of them tally-t-alice's) built and rated in %s (rating %s, daily usage %s)",
		total, mine, time.Since(began).Round(time.Second), sum.Took.Round(time.Second), sum.UsageTook.Round(time.Second))

	targets := []struct {
		name string
		e    *testEnv
	}{{"primary", e}}
	if rep != nil {
		onReplica := newAuthServer(t, "", func(c *Config, d *Deps) {
			d.Pool = rep.primary
			resizePool(t, d, 16)
			d.Reads = rep.router
			d.Ready = func(ctx context.Context) error { return rep.primary.Ping(ctx) }
			c.ReadLagNotice = time.Minute
		})
		targets[0].name = "primary (no replica configured)"
		targets = append(targets, struct {
			name string
			e    *testEnv
		}{"replica (TALLY_DATABASE_READ_URL)", onReplica})
	}
	report := fmt.Sprintf("pages for a person with %d of %d jobs (2 cores, loopback)\n\n| served from | page | clients | requests | throughput | p50 | p99 |\n|---|---|---|---|---|---|---|\n", mine, total)
	for _, target := range targets {
		report += measurePagesAtScale(t, target.e, target.name, rep)
	}
	t.Log("\n" + report)
	if p := os.Getenv("TALLY_SCALE_REPORT"); p != "" {
		os.WriteFile(p, []byte(report), 0o644)
	}
}

// measurePagesAtScale signs 200 sessions in to e and measures the pages
// one request at a time and under 50 and 200 clients; rep, when set, is
// waited for until it holds the sign-ins, so the pages read it.
func measurePagesAtScale(t *testing.T, e *testEnv, label string, rep *scaleReplica) string {
	ctx := context.Background()
	pool := e.srv.pool
	login := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(e.http.URL+"/login", url.Values{"username": {"tally-t-alice"}, "password": {pamUsers["tally-t-alice"]}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %v %v", err, resp)
		}
		resp.Body.Close()
		return c
	}
	get := func(c *http.Client, path string) (time.Duration, error) {
		began := time.Now()
		resp, err := c.Get(e.http.URL + path)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %d", path, resp.StatusCode)
		}
		return time.Since(began), nil
	}
	pct := func(ds []time.Duration, p int) time.Duration {
		slices.Sort(ds)
		return ds[(len(ds)-1)*p/100].Round(100 * time.Microsecond)
	}
	report := ""
	pages := []struct{ name, path string }{{"dashboard", "/"}, {"jobs", "/jobs"}, {"jobs page 1,000", ""}}
	// A deep page: follow the keyset to the 1,000th page once.
	{
		var row int64
		var end time.Time
		pool.QueryRow(ctx, `SELECT id, end_time FROM jobs WHERE username = 'tally-t-alice' ORDER BY end_time DESC NULLS LAST, id DESC OFFSET 50000 LIMIT 1`).Scan(&row, &end)
		pages[2].path = "/jobs?after=" + url.QueryEscape(billingpg.Cursor{Value: end.UTC().Format(time.RFC3339Nano), Row: row}.String())
	}
	// Sign everyone in first (PAM conversations are bounded, on purpose).
	single := login()
	sessions := make([]*http.Client, 200)
	for i := range sessions {
		sessions[i] = login()
	}
	if rep != nil {
		rep.caughtUp(t, time.Now())
	}
	for _, p := range pages {
		var ds []time.Duration
		for range 50 {
			d, err := get(single, p.path)
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		report += fmt.Sprintf("| %s | %s | 1 | %d | %.0f/s | %s | %s |\n", label, p.name, len(ds), float64(len(ds))/sum64(ds).Seconds(), pct(ds, 50), pct(ds, 99))
	}
	for _, clients := range []int{50, 200} {
		for _, p := range pages[:2] {
			var mu sync.Mutex
			var ds []time.Duration
			var failed int
			deadline := time.Now().Add(10 * time.Second)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := sessions[i]
					for time.Now().Before(deadline) {
						d, err := get(c, p.path)
						mu.Lock()
						if err != nil {
							failed++
						} else {
							ds = append(ds, d)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			if failed > 0 {
				t.Errorf("%s with %d clients: %d failed requests", p.name, clients, failed)
			}
			report += fmt.Sprintf("| %s | %s | %d | %d | %.0f/s | %s | %s |\n", label, p.name, clients, len(ds), float64(len(ds))/el.Seconds(), pct(ds, 50), pct(ds, 99))
		}
	}
	return report
}

// scaleReplica is a private primary and streaming replica for the scale
// measurement, with the router Tally uses to choose between them.
type scaleReplica struct {
	primary *pgxpool.Pool
	router  *replica.Router
}

func newScaleReplica(t *testing.T) *scaleReplica {
	r := replicatedRouter(t, 10*time.Minute, time.Second)
	return &scaleReplica{primary: r.primary, router: r.router}
}

// caughtUp waits until the replica holds everything committed before at.
func (r *scaleReplica) caughtUp(t *testing.T, at time.Time) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if lag, usable := r.router.Status(); usable && time.Now().Add(-lag).After(at) {
			return
		}
	}
	t.Fatal("the replica did not catch up in 10 minutes")
}

func sum64(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}
