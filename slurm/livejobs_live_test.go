package slurm

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/slurmtest"
	"github.com/tally-hpc/tally/internal/testenv"
)

// The real slurmctld's live list, read with the service token (tally, an
// Operator: it sees everyone's jobs), shows a running job with who runs
// it, on what account, with what resources and since when, and a job
// waiting for its begin time as pending with no start.
func TestLiveRunningJobs(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	m, err := NewMinter(MinterConfig{KeyFile: tb.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewMintedService("tally", m)
	ctx := context.Background()

	// 24.11's testbed types its GPUs; 22.05's are untyped.
	gpuType := os.Getenv("SLURM_TESTBED_GPU_TYPE")
	gres := "gpu:1"
	if gpuType != "" {
		gres = "gpu:" + gpuType + ":1"
	}
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	running := slurmtest.Submit(t, tb, "bob", false, "-p", "gpu", "-A", "chem", "-J", "live-list-running",
		"-c", "2", "--mem=600M", "--gres="+gres, "-t", "5", "--wrap", "sleep 120")
	t.Cleanup(func() { slurmtest.Scancel(t, tb, running) })
	pending := slurmtest.Submit(t, tb, "alice", false, "-p", "cpu", "-A", "physics", "-J", "live-list-pending",
		"--begin=now+1hour", "--wrap", "sleep 120")
	t.Cleanup(func() { slurmtest.Scancel(t, tb, pending) })
	slurmtest.WaitRunning(t, tb, running, 90*time.Second)

	version, err := c.DiscoverLiveVersion(ctx, svc)
	if err != nil {
		t.Fatalf("discovering the slurmctld version: %v", err)
	}
	ans, err := c.LiveJobs(ctx, svc, version)
	if err != nil {
		t.Fatalf("reading the live job list (%s): %v", version, err)
	}
	for _, r := range ans.Rejects {
		t.Errorf("%s rejected record %d: %s (%s)", version, r.Line, r.Err, r.Raw)
	}
	if ans.Cluster == "" {
		t.Errorf("%s: the answer names no cluster", version)
	}
	byID := map[int64]billing.RunningJob{}
	for _, j := range ans.Jobs {
		byID[j.JobID] = j
	}

	r, ok := byID[running]
	if !ok {
		t.Fatalf("%s: running job %d not in the live list (%d jobs)", version, running, len(ans.Jobs))
	}
	wantGPUs := map[string]int64{gpuType: 1}
	if r.State != "RUNNING" || r.User != "bob" || r.Account != "chem" || r.Partition != "gpu" || r.CPUs != 2 ||
		r.MemMiB != 600 || r.Nodes != 1 || r.TimeLimit != 5*time.Minute || !reflect.DeepEqual(r.GPUs, wantGPUs) ||
		r.Billing <= 0 || r.Cluster != ans.Cluster {
		t.Errorf("%s: running job read as %+v; want bob on chem, 2 CPUs, 600 MiB, GPUs %v, 5 min, cluster %q", version, r, wantGPUs, ans.Cluster)
	}
	if r.Start.Before(before) || r.Start.After(time.Now()) || r.Submit.IsZero() || r.Submit.After(r.Start) {
		t.Errorf("%s: running job submitted %s, started %s; want a start since %s", version, r.Submit, r.Start, before)
	}

	p, ok := byID[pending]
	if !ok {
		t.Fatalf("%s: pending job %d not in the live list", version, pending)
	}
	if p.State != "PENDING" || !p.Start.IsZero() || p.User != "alice" || p.Account != "physics" || p.CPUs < 1 || p.Submit.IsZero() {
		t.Errorf("%s: pending job read as %+v", version, p)
	}
}
