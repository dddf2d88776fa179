package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/slurmtest"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

type liveEnv struct {
	tb      testenv.Slurm
	cluster string
	client  *slurm.Client
	svc     *slurm.ServiceIdentity
	sacct   *slurm.Sacct
}

func newLive(t *testing.T) liveEnv {
	tb := testenv.RequireSlurm(t)
	m, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: tb.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := slurm.NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", tb.Conf)
	cluster := os.Getenv("SLURM_CLUSTER")
	if cluster == "" {
		cluster = "testbed"
	}
	return liveEnv{tb: tb, cluster: cluster, client: c, svc: slurm.NewMintedService("tally", m), sacct: &slurm.Sacct{Path: "sacct"}}
}

func (l liveEnv) ingester(t *testing.T, store *jobstore.Store, source string) *Ingester {
	in, err := New(Config{Source: source, Window: time.Hour, Retry: slurm.Retry{Attempts: 2, Backoff: 100 * time.Millisecond}},
		store, l.client, l.svc, l.sacct, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func collect(t *testing.T, f func(func(slurm.Job) error) error) map[slurm.Key]slurm.Job {
	out := map[slurm.Key]slurm.Job{}
	if err := f(func(j slurm.Job) error { out[j.Key()] = j; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A small real workload, ingested through slurmrestd and through sacct:
// the same records, re-ingest a no-op, a running job updated when it ends,
// and auto falling back to sacct when slurmrestd is down.
func TestLiveIngest(t *testing.T) {
	l := newLive(t)
	from := time.Now().Add(-time.Minute).Truncate(time.Second)

	ours := map[int64]bool{}
	for _, id := range []int64{
		slurmtest.Submit(t, l.tb, "alice", true, "-p", "cpu", "-A", "physics", "-J", "live-cpu", "-c", "2", "--mem=500M",
			"--wrap", "srun -n1 -J step0 true; srun -n1 -J step1 sleep 1"),
		slurmtest.Submit(t, l.tb, "bob", true, "-p", "gpu", "-A", "chem", "-J", "live-gpu", "--gres=gpu:1", "--wrap", "true"),
		slurmtest.Submit(t, l.tb, "bob", true, "-p", "cpu", "-A", "chem", "-J", "live-fail", "--wrap", "exit 3"),
		slurmtest.Submit(t, l.tb, "alice", true, "-p", "cpu", "-A", "chem", "-J", "live-array", "--array=1-2", "--wrap", "true"),
	} {
		ours[id] = true
	}
	running := slurmtest.Submit(t, l.tb, "alice", false, "-p", "cpu", "-A", "physics", "-J", "live-running", "--wrap", "sleep 60")
	ours[running] = true
	slurmtest.WaitRunning(t, l.tb, running, 60*time.Second)
	to := time.Now().Add(time.Minute).Truncate(time.Second)

	ctx := context.Background()
	// Other test packages submit jobs on the same testbed at the same
	// time; compare this test's own jobs.
	mine := func(m map[slurm.Key]slurm.Job) map[slurm.Key]slurm.Job {
		out := map[slurm.Key]slurm.Job{}
		for k, j := range m {
			if ours[j.JobID] || ours[j.ArrayJobID] {
				out[k] = j
			}
		}
		return out
	}
	// slurmctld reports to slurmdbd asynchronously: wait until both
	// sources see all six records.
	version, err := l.client.DiscoverVersion(ctx, l.svc)
	if err != nil {
		t.Fatalf("discovering the slurmdb version: %v", err)
	}
	var rest, text map[slurm.Key]slurm.Job
	for attempt := 0; ; attempt++ {
		rest = mine(collect(t, func(fn func(slurm.Job) error) error {
			_, err := l.client.Jobs(ctx, l.svc, version, from, to, slurm.DefaultRetry(), fn)
			return err
		}))
		text = mine(collect(t, func(fn func(slurm.Job) error) error {
			return l.sacct.Jobs(ctx, from, to, "", fn, func(r slurm.Reject) error { t.Errorf("reject %+v", r); return nil })
		}))
		if len(rest) == 6 && len(text) == 6 {
			break
		}
		if attempt == 20 {
			t.Fatalf("after 40 s slurmrestd has %d of this test's records and sacct %d, want 6", len(rest), len(text))
		}
		time.Sleep(2 * time.Second)
	}
	if len(rest) != len(text) {
		t.Fatalf("slurmrestd %d records, sacct %d", len(rest), len(text))
	}
	keys := make([]slurm.Key, 0, len(rest))
	for k := range rest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].JobID < keys[b].JobID })
	for _, k := range keys {
		s, ok := text[k]
		if !ok {
			t.Errorf("job %d: missing from sacct", k.JobID)
			continue
		}
		if d := slurm.CompareRecords(s, rest[k]); d != "" {
			t.Errorf("job %d (%s): sacct and slurmrestd differ: %s", k.JobID, s.Name, d)
		}
	}

	store := jobstore.New(pgtest.New(t))
	in := l.ingester(t, store, "rest")
	sum, err := in.Run(ctx, from, to, Options{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.New < len(rest) || sum.Sources["rest"] == 0 {
		t.Fatalf("first ingest: %+v", sum)
	}
	var ids []int64
	for id := range ours {
		ids = append(ids, id)
	}
	before := time.Now()
	sum, err = in.Run(ctx, from, to, Options{Trigger: "test"})
	var rewritten int
	store.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE (job_id = ANY($1) OR array_job_id = ANY($1)) AND updated_at >= $2 AND state <> 'RUNNING'`,
		ids, before).Scan(&rewritten)
	if err != nil || rewritten != 0 || sum.Counts.Unchanged < len(rest)-1 {
		// Only the running job may change (its elapsed time moves).
		t.Fatalf("re-ingest rewrote %d finished records: %+v %v", rewritten, sum, err)
	}

	// The running job ends; the next ingest updates its row (slurmdbd
	// learns of the end asynchronously, so allow it a few tries).
	slurmtest.Scancel(t, l.tb, running)
	var state string
	var ended bool
	for attempt := 0; ; attempt++ {
		time.Sleep(2 * time.Second)
		if _, err := in.Run(ctx, from, time.Now().Add(time.Minute), Options{Trigger: "test"}); err != nil {
			t.Fatal(err)
		}
		store.Pool().QueryRow(ctx, `SELECT state, end_time IS NOT NULL FROM jobs WHERE job_id = $1`, running).Scan(&state, &ended)
		if state == "CANCELLED" && ended {
			break
		}
		if attempt == 15 {
			t.Fatalf("running job after it ended: %s ended=%v", state, ended)
		}
	}

	// slurmrestd killed in the middle of an ingest: the windows after it
	// are served by sacct and say why, every record lands once.
	fresh := jobstore.New(pgtest.New(t))
	auto, err := New(Config{Source: "auto", Window: 20 * time.Second, Retry: slurm.Retry{Attempts: 2, Backoff: 100 * time.Millisecond}},
		fresh, l.client, l.svc, l.sacct, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var reports []Report
	killed := false
	sum, err = auto.Run(ctx, from, time.Now().Add(time.Minute), Options{Trigger: "test", Progress: func(r Report) {
		reports = append(reports, r)
		if !killed && r.Source == "rest" {
			slurmtest.KillRestd(t, l.tb)
			killed = true
		}
	}})
	if err != nil {
		t.Fatalf("auto with slurmrestd killed: %v", err)
	}
	if !killed || sum.Sources["rest"] == 0 || sum.Sources["sacct"] == 0 || sum.Windows < 3 {
		t.Fatalf("want windows from slurmrestd, then from sacct: %+v", sum)
	}
	var fellBack bool
	for _, r := range reports {
		fellBack = fellBack || (r.Source == "sacct" && strings.Contains(r.Fallback, "rest failed"))
	}
	if !fellBack {
		t.Fatalf("no window says why sacct served it: %+v", reports)
	}
	var n, distinct int
	fresh.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT (cluster, job_id, submit_time)) FROM jobs WHERE job_id = ANY($1) OR array_job_id = ANY($1)`,
		ids).Scan(&n, &distinct)
	if n != len(rest) || distinct != n {
		t.Fatalf("%d of this test's records stored (%d distinct), want %d once each", n, distinct, len(rest))
	}
	var reason string
	fresh.Pool().QueryRow(ctx, `SELECT fallback_reason FROM ingest_runs WHERE source = 'sacct' ORDER BY id DESC LIMIT 1`).Scan(&reason)
	if reason == "" {
		t.Fatal("ingest_runs does not say why sacct served the window")
	}
}

// Associations and coordinators from the real slurmrestd and from sacctmgr
// agree, and land in the tables roles are read from.
func TestLiveAssociations(t *testing.T) {
	l := newLive(t)
	// Make alice a coordinator of physics (idempotent on the testbed).
	slurmtest.Sacctmgr(t, l.tb, "add", "coordinator", "account=physics", "names=alice")
	store := jobstore.New(pgtest.New(t))
	ctx := context.Background()
	for _, source := range []string{"rest", "sacct"} {
		in := l.ingester(t, store, source)
		na, nc, err := in.SyncAssociations(ctx, "sacctmgr")
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if na < 4 || nc < 1 {
			t.Fatalf("%s: %d associations, %d coordinators", source, na, nc)
		}
		var alice []string
		rows, _ := store.Pool().Query(ctx, `SELECT account || ':' || is_default FROM slurm_associations WHERE username = 'alice' ORDER BY account`)
		for rows.Next() {
			var s string
			rows.Scan(&s)
			alice = append(alice, s)
		}
		rows.Close()
		if len(alice) != 2 || alice[0] != "chem:false" || alice[1] != "physics:true" {
			t.Errorf("%s: alice's associations %v", source, alice)
		}
		var coord int
		store.Pool().QueryRow(ctx, `SELECT count(*) FROM slurm_coordinators WHERE username = 'alice' AND account = 'physics' AND cluster = $1`,
			l.cluster).Scan(&coord)
		if coord != 1 {
			t.Errorf("%s: alice is not recorded as coordinator of physics", source)
		}
	}
}

// Shapes the small workload above lacks: a job that hits its time limit,
// a requeued attempt, and (where the testbed has typed GPUs, 24.11) a
// typed GPU request. slurmrestd and sacct must give the same records, with
// the states and GPU types Slurm recorded.
func TestLiveJobShapes(t *testing.T) {
	l := newLive(t)
	ctx := context.Background()
	from := time.Now().Add(-time.Minute).Truncate(time.Second)
	timeout := slurmtest.Submit(t, l.tb, "alice", false, "-p", "cpu", "-A", "physics", "-J", "live-timeout", "-t", "1", "--wrap", "sleep 300")
	requeued := slurmtest.Submit(t, l.tb, "bob", false, "-p", "cpu", "-A", "chem", "-J", "live-requeue", "--requeue", "--wrap", "sleep 300")
	ours := map[int64]string{timeout: "TIMEOUT", requeued: "REQUEUED"}
	gpuType := os.Getenv("SLURM_TESTBED_GPU_TYPE")
	var typed int64
	if gpuType != "" {
		typed = slurmtest.Submit(t, l.tb, "alice", true, "-p", "gpu", "-A", "physics", "-J", "live-typed-gpu", "--gres=gpu:"+gpuType+":1", "--wrap", "true")
		ours[typed] = "COMPLETED"
	}
	slurmtest.WaitRunning(t, l.tb, requeued, 60*time.Second)
	time.Sleep(3 * time.Second) // past the batch step's launch, which a requeue can race
	cmd := exec.Command("scontrol", "requeue", strconv.FormatInt(requeued, 10))
	cmd.Env = append(os.Environ(), "SLURM_CONF="+l.tb.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scontrol requeue: %v %s", err, out)
	}
	version, err := l.client.DiscoverVersion(ctx, l.svc)
	if err != nil {
		t.Fatal(err)
	}
	// The time limit is a minute; Slurm notices within its next check.
	var rest, text map[slurm.Key]slurm.Job
	seen := func(m map[slurm.Key]slurm.Job) map[string]bool {
		states := map[string]bool{}
		for _, j := range m {
			if want, ok := ours[j.JobID]; ok && j.State == want {
				states[want+"/"+strconv.FormatInt(j.JobID, 10)] = true
			}
		}
		return states
	}
	mine := func(m map[slurm.Key]slurm.Job) map[slurm.Key]slurm.Job {
		out := map[slurm.Key]slurm.Job{}
		for k, j := range m {
			if _, ok := ours[j.JobID]; ok {
				out[k] = j
			}
		}
		return out
	}
	// slurmdbd writes a job's end and its steps' ends in separate
	// messages, so a record read while they arrive can be read again a
	// moment later with a step's exit code filled in (seen on 24.11 with
	// the timed-out job's batch step). The two readers must agree once
	// the records have settled: compare again until they do or time is up.
	differences := func() []string {
		var out []string
		for k, r := range rest {
			s, ok := text[k]
			if !ok {
				if r.State != "PENDING" && r.State != "RUNNING" { // the requeued job's next attempt may be in one only
					out = append(out, fmt.Sprintf("job %d (%s): missing from sacct", k.JobID, r.State))
				}
				continue
			}
			if r.State == s.State && r.State != "PENDING" && r.State != "RUNNING" {
				if r.State == "REQUEUED" {
					// The killed attempt's steps: slurmdbd's two readers do not
					// agree on their exit codes (seen once on 24.11 when the
					// requeue met the batch step's launch); nothing bills them.
					for i := range r.Steps {
						r.Steps[i].ExitCode = nil
					}
					for i := range s.Steps {
						s.Steps[i].ExitCode = nil
					}
				}
				if d := slurm.CompareRecords(s, r); d != "" {
					out = append(out, fmt.Sprintf("job %d (%s): sacct and slurmrestd differ: %s", k.JobID, r.State, d))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(3 * time.Second) {
		to := time.Now().Add(time.Minute)
		rest = mine(collect(t, func(fn func(slurm.Job) error) error {
			_, err := l.client.Jobs(ctx, l.svc, version, from, to, slurm.DefaultRetry(), fn)
			return err
		}))
		text = mine(collect(t, func(fn func(slurm.Job) error) error {
			return l.sacct.Jobs(ctx, from, to, "", fn, func(r slurm.Reject) error { t.Errorf("reject %+v", r); return nil })
		}))
		all := len(seen(rest)) == len(ours) && len(seen(text)) == len(ours)
		if all && len(differences()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			if !all {
				t.Fatalf("states seen: slurmrestd %v, sacct %v; want %v", seen(rest), seen(text), ours)
			}
			for _, d := range differences() {
				t.Error(d)
			}
			break
		}
	}
	slurmtest.Scancel(t, l.tb, requeued) // the rerun need not run
	for k, r := range rest {
		s := text[k]
		if k.JobID == typed && (r.Requested.GPUByType[gpuType] != 1 || s.Requested.GPUByType[gpuType] != 1) {
			t.Errorf("typed GPU job: slurmrestd %v, sacct %v, want %s:1", r.Requested.GPUByType, s.Requested.GPUByType, gpuType)
		}
	}
}
