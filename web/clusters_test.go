package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/synth"
)

// With two clusters, the dashboard and the job list can be narrowed to
// one; the figures of each add up to those of both; a cluster Tally does
// not read is refused, not shown as nothing.
func TestClusterChoice(t *testing.T) {
	e := newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{AdminUsers: []string{"zq-clusters-admin"}}
		d.Authn = oneUserAuthn{"zq-clusters-admin", "pw"}
		d.Clusters = []Cluster{{Name: "cpu"}, {Name: "gpu"}}
	})
	ctx := context.Background()
	store := importStandardCard(t, e.srv.pool)
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	start := monthStart(end)
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3)`,
		start.Format("2006-01"), start, start.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	mk := func(cluster string, id, cpus int64) slurm.Job {
		return slurm.Job{Cluster: cluster, JobID: id, Submit: end.Add(-3 * time.Hour), Start: end.Add(-2 * time.Hour), End: end,
			User: "bob", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: cluster + " job", ElapsedSeconds: 7200,
			Requested: slurm.TRES{CPU: cpus, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: cpus, MemMiB: 1024, Nodes: 1}}
	}
	storeJobs(t, e, end.Add(-time.Hour), end, mk("cpu", 7, 1), mk("gpu", 7, 8))
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	if resp, _ := b.login("zq-clusters-admin", "pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	total := func(path string) billing.Micros {
		resp, body := b.get(path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		v := between(body, `data-testid="month-total">`, "<")
		m, err := billing.ParseMicros(strings.Fields(v)[0])
		if err != nil {
			t.Fatalf("%s: month total %q", path, v)
		}
		return m
	}
	all, cpu, gpu := total("/"), total("/?cluster=cpu"), total("/?cluster=gpu")
	if cpu == 0 || gpu == 0 || cpu+gpu != all {
		t.Errorf("month totals: all %s, cpu %s, gpu %s", all, cpu, gpu)
	}
	// The account page, likewise.
	acct := func(path string) billing.Micros {
		resp, body := b.get(path)
		v := between(body, `<div class="label">Charges</div><div class="value" data-testid="total">`, "<")
		if resp.StatusCode != 200 || v == "" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, v)
		}
		m, err := billing.ParseMicros(strings.Fields(v)[0])
		if err != nil {
			t.Fatalf("%s: %q", path, v)
		}
		return m
	}
	if a, c, g := acct("/accounts/physics"), acct("/accounts/physics?cluster=cpu"), acct("/accounts/physics?cluster=gpu"); c+g != a || c == 0 || g == 0 || a != all {
		t.Errorf("account totals: all %s, cpu %s, gpu %s (dashboard %s)", a, c, g, all)
	}
	// The period page breaks its charges down by cluster too.
	if _, body := b.get("/periods/" + start.Format("2006-01")); !strings.Contains(body, "By cluster") {
		t.Error("the period page has no breakdown by cluster")
	}
	if _, body := b.get("/"); !strings.Contains(body, `data-testid="cluster-choice"`) {
		t.Error("no choice of cluster on the dashboard")
	}
	if resp, body := b.get("/?cluster=elsewhere"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no cluster") {
		t.Errorf("an unknown cluster: %d", resp.StatusCode)
	}
	_, body := b.get("/jobs?cluster=gpu")
	if !strings.Contains(body, "gpu job") || strings.Contains(body, "cpu job") {
		t.Error("the job list's cluster filter")
	}
}

// The running-now page reads every slurmctld's whole job list: a
// person's views within liveReuse share one read.
func TestRunningNowReadsSlurmOncePerPersonAWhile(t *testing.T) {
	now := time.Now().UTC()
	job := slurm.Job{Cluster: "demo", JobID: 42, Submit: now.Add(-time.Hour), Start: now.Add(-30 * time.Minute), User: "zq-live-user",
		Account: "physics", Partition: "cpu", QOS: "normal", State: "RUNNING",
		Requested: slurm.TRES{CPU: 2, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: 2, MemMiB: 1024, Nodes: 1}}
	restd := synth.NewRestd([]slurm.Job{job}, nil, nil)
	var reads atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slurm/") {
			reads.Add(1)
		}
		restd.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	client, err := slurm.NewClient(hs.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	minter, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: hs256Key(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestServer(t, func(c *Config, d *Deps) {
		d.Authn = oneUserAuthn{"zq-live-user", "pw"}
		d.Clusters = []Cluster{{Name: "demo", Minter: minter, Slurm: client}}
	})
	importStandardCard(t, e.srv.pool)
	b := newBrowser(t, e)
	b.login("zq-live-user", "pw", "/")
	for i := range 3 {
		resp, body := b.get("/jobs/running")
		if resp.StatusCode != 200 || !strings.Contains(between(body, `data-key="42"`, "</tr>"), "RUNNING") {
			t.Fatalf("view %d: %d\n%.2000s", i, resp.StatusCode, body)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("three views read slurmctld's job list %d times, want once", n)
	}
}

// Exports begin with a UTF-8 byte-order mark when asked (?bom=1), for
// Excel on Windows, and not otherwise.
func TestCSVByteOrderMark(t *testing.T) {
	e := newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{AdminUsers: []string{"zq-bom-admin"}}
		d.Authn = oneUserAuthn{"zq-bom-admin", "pw"}
	})
	b := newBrowser(t, e)
	b.login("zq-bom-admin", "pw", "/")
	for path, want := range map[string]bool{"/jobs.csv": false, "/jobs.csv?bom=1": true, "/finance/budgets.csv?bom=1": true, "/finance/budgets.csv": false} {
		resp, body := b.get(path)
		if resp.StatusCode != 200 || strings.HasPrefix(body, "\ufeff") != want {
			t.Errorf("%s: %d, starts with a BOM: %v, want %v", path, resp.StatusCode, strings.HasPrefix(body, "\ufeff"), want)
		}
	}
}
