package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/slurmtest"
	"github.com/tally-hpc/tally/internal/testenv"
)

// readEnvFile reads a testbed's env file (export K=V lines).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		testenv.Missing(t, "both Slurm testbeds are needed ("+path+"): run make testbed as root")
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
		if ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// Two real clusters, one Tally: the 22.05 testbed read through its
// slurmrestd, the 24.11 one through sacct (a wrapper naming its own
// slurm.conf, as a site with two slurmdbds does). One serve ingests both;
// one account's jobs on both are charged; when the first cluster's
// slurmrestd dies, the second's ingest and the pages go on.
func TestLiveTwoClusters(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	if os.Getenv("SLURM_CLUSTER") != "testbed" {
		t.Skip("runs once, in the 22.05 pass, with both testbeds")
	}
	root, _ := filepath.Abs("../..")
	a := readEnvFile(t, filepath.Join(root, ".tally", "slurm-22.05.env"))
	b := readEnvFile(t, filepath.Join(root, ".tally", "slurm-24.11.env"))
	dir := t.TempDir()
	wrap := func(name, bin, conf string) string {
		p := filepath.Join(dir, name)
		script := fmt.Sprintf("#!/bin/sh\nSLURM_CONF=%s exec %s \"$@\"\n", conf, bin)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sacctB := wrap("sacct-"+b["SLURM_CLUSTER"], filepath.Join(b["SLURM_BIN"], "sacct"), b["SLURM_CONF"])
	sacctmgrB := wrap("sacctmgr-"+b["SLURM_CLUSTER"], filepath.Join(b["SLURM_BIN"], "sacctmgr"), b["SLURM_CONF"])
	config := filepath.Join(dir, "clusters.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`clusters:
  - name: %s
    slurmrestd_url: %s
    jwt_key_file: %s
    source: rest
    sacctmgr: /bin/false
    ingest_interval: 2s
  - name: %s
    sacct: %s
    sacctmgr: %s
    source: sacct
    ingest_interval: 2s
`, a["SLURM_CLUSTER"], a["SLURMRESTD_URL"], a["SLURM_JWT_KEY"], b["SLURM_CLUSTER"], sacctB, sacctmgrB)), 0o644)

	// One job of physics on each cluster.
	idA := slurmtest.Submit(t, tb, "alice", true, "-p", "cpu", "-A", "physics", "-J", "two-clusters-a", "--wrap", "sleep 2")
	tbB := testenv.Slurm{URL: b["SLURMRESTD_URL"], KeyFile: b["SLURM_JWT_KEY"], Conf: b["SLURM_CONF"]}
	idB := submitWith(t, tbB, b["SLURM_BIN"], "alice", "-p", "cpu", "-A", "physics", "-J", "two-clusters-b", "--wrap", "sleep 2")

	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	t.Setenv("TALLY_DATABASE_URL", url)
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, args := range [][]string{
		{"rates", "import", "../../billing/testdata/standard.yaml"},
		{"period", "ensure", month.Format("2006-01-02"), month.AddDate(0, 1, 0).Format("2006-01-02")},
		{"config", "check", "--config", config},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("tally %v: %d\n%s%s", args, code, out, errOut)
		}
	}
	bin := buildTally(t)
	t.Setenv("TALLY_CONFIG", config)
	t.Setenv("TALLY_ADDR", "127.0.0.1:0")
	t.Setenv("TALLY_PAM_SERVICE", "tally-test")
	t.Setenv("TALLY_INGEST_WINDOW", "6h")
	_, out := startTally(t, bin, url, "serve")
	base := serveURL(t, out)

	charged := func(cluster string, job int64) bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM job_charges c JOIN jobs j ON j.id = c.job_row
			WHERE j.cluster = $1 AND j.job_id = $2 AND c.account = 'physics' AND c.not_charged = ''`, cluster, job).Scan(&n)
		return n > 0
	}
	waitLong(t, "physics's jobs on both clusters to be ingested and charged", 2*time.Minute, func() bool {
		return charged(a["SLURM_CLUSTER"], idA) && charged(b["SLURM_CLUSTER"], idB)
	})
	// One statement for physics, with lines from both clusters, one total.
	ps, err := billingpg.New(pool).Statements(context.Background(), month.Format("2006-01"), []string{"physics"}, billing.HalfUp)
	if err != nil || len(ps.Statements) != 1 {
		t.Fatalf("physics's statement: %v %+v", err, ps)
	}
	st := ps.Statements[0]
	var sum billing.Micros
	lineClusters := map[string]bool{}
	for _, l := range st.Lines {
		lineClusters[l.Cluster] = true
		sum += l.Amount
	}
	if !lineClusters[a["SLURM_CLUSTER"]] || !lineClusters[b["SLURM_CLUSTER"]] || sum != st.Total {
		t.Errorf("physics's statement: lines of clusters %v, lines sum to %s, total %s", lineClusters, sum, st.Total)
	}
	var sources string
	pool.QueryRow(context.Background(), `SELECT string_agg(DISTINCT cluster || '=' || source, ',' ORDER BY cluster || '=' || source)
		FROM ingest_runs WHERE source <> 'none'`).Scan(&sources)
	want := []string{a["SLURM_CLUSTER"] + "=rest", b["SLURM_CLUSTER"] + "=sacct"}
	slices.Sort(want)
	if sources != strings.Join(want, ",") {
		t.Errorf("ingest sources %q, want %q", sources, strings.Join(want, ","))
	}

	// The first cluster's slurmrestd dies: its ingest fails, the second's
	// goes on, and the pages answer.
	slurmtest.KillRestd(t, tb)
	killed := time.Now()
	goodAfter := func(cluster string) bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM ingest_runs WHERE cluster = $1 AND source <> 'none' AND started_at > $2`,
			cluster, killed).Scan(&n)
		return n > 0
	}
	failedAfter := func(cluster string) bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM ingest_runs WHERE cluster = $1 AND source = 'none' AND started_at > $2`,
			cluster, killed).Scan(&n)
		return n > 0
	}
	waitLong(t, "a failed ingest of the dead cluster and a good one of the other", time.Minute, func() bool {
		return failedAfter(a["SLURM_CLUSTER"]) && goodAfter(b["SLURM_CLUSTER"])
	})
	for _, path := range []string{"/readyz", "/login", "/healthz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s with one cluster's slurmrestd down: %v %v", path, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err == nil {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		seen := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tally_ingest_failed_windows_since_success{cluster=") {
				seen++
			}
		}
		if seen != 2 {
			t.Errorf("/metrics has %d per-cluster failure series, want 2", seen)
		}
	}
}

// submitWith runs sbatch -W of a testbed whose binaries live in bin.
func submitWith(t *testing.T, tb testenv.Slurm, bin, user string, args ...string) int64 {
	t.Helper()
	path := os.Getenv("PATH")
	t.Setenv("PATH", bin+":"+path)
	defer t.Setenv("PATH", path)
	return slurmtest.Submit(t, tb, user, true, args...)
}

// waitLong is waitUntil with a longer patience, for real clusters.
func waitLong(t *testing.T, what string, max time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
