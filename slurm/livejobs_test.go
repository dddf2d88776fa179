package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// liveView is a live job as the golden files show it: times in RFC 3339
// ("" for none) and the limit in minutes, so a diff reads plainly.
type liveView struct {
	Cluster, User, Account, Partition, QOS, State string
	JobID                                         int64
	Submit, Start                                 string
	TimeLimitMinutes                              int64
	CPUs, MemMiB, Nodes, Billing                  int64
	GPUs                                          map[string]int64 `json:",omitempty"`
}

func viewLive(ans LiveJobsAnswer) any {
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	jobs := []liveView{}
	for _, j := range ans.Jobs {
		jobs = append(jobs, liveView{Cluster: j.Cluster, User: j.User, Account: j.Account, Partition: j.Partition, QOS: j.QOS,
			State: j.State, JobID: j.JobID, Submit: tm(j.Submit), Start: tm(j.Start), TimeLimitMinutes: int64(j.TimeLimit / time.Minute),
			CPUs: j.CPUs, MemMiB: j.MemMiB, Nodes: j.Nodes, Billing: j.Billing, GPUs: j.GPUs})
	}
	return struct {
		Cluster  string
		Ended    int
		Jobs     []liveView
		Rejects  []Reject
		Warnings []string
	}{ans.Cluster, ans.Ended, jobs, ans.Rejects, ans.Warnings}
}

// Every recorded live job list, from Slurm 22.05 (v0.0.38, the testbed)
// to 25.11 (v0.0.44), reads to the golden jobs: finished jobs counted
// apart, pending ones without the scheduler's estimated start.
func TestDecodeLiveJobsEveryFixture(t *testing.T) {
	files, _ := filepath.Glob("testdata/upstream/*/*/slurm-jobs.json")
	files = append(files, "testdata/testbed/slurm-v0.0.38-jobs.json", "testdata/testbed-24.11/slurm-v0.0.42-jobs.json")
	if len(files) < 9 {
		t.Fatalf("only %d live job fixtures found", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, "testdata/"), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ans, err := DecodeLiveJobs(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(ans.Jobs) == 0 || ans.Cluster == "" || len(ans.Rejects) > 0 {
				t.Errorf("%d jobs, cluster %q, rejects %v", len(ans.Jobs), ans.Cluster, ans.Rejects)
			}
			out, _ := json.MarshalIndent(viewLive(ans), "", " ")
			golden(t, strings.TrimSuffix(strings.TrimPrefix(f, "testdata/"), ".json")+".golden.json", append(out, '\n'))
		})
	}
}

// The 22.05 recording holds one job of each kind the testbed can make;
// what the budgets need of each is checked here besides the golden file.
func TestLiveJobsTestbedRecording(t *testing.T) {
	r, err := os.Open("testdata/testbed/slurm-v0.0.38-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ans, err := DecodeLiveJobs(r)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]billing.RunningJob{}
	for _, j := range ans.Jobs {
		byID[j.JobID] = j
	}
	if ans.Ended != 1 || len(ans.Jobs) != 7 {
		t.Fatalf("%d live, %d ended; want 7 and 1 (job 4 completed)", len(ans.Jobs), ans.Ended)
	}
	gpu := byID[2]
	if gpu.State != "RUNNING" || gpu.User != "bob" || gpu.Account != "chem" || gpu.CPUs != 1 || gpu.MemMiB != 1000 ||
		!reflect.DeepEqual(gpu.GPUs, map[string]int64{"": 1}) || gpu.Billing != 11 || gpu.TimeLimit != 5*time.Minute || gpu.Start.IsZero() {
		t.Errorf("the GPU job: %+v", gpu)
	}
	if s := byID[1]; s.State != "SUSPENDED" || s.CPUs != 2 || s.MemMiB != 500 || s.Start.IsZero() {
		t.Errorf("the suspended job: %+v", s)
	}
	// Job 3 waits for --begin: slurmctld's start time is its estimate.
	if p := byID[3]; p.State != "PENDING" || !p.Start.IsZero() || p.Submit.IsZero() {
		t.Errorf("the pending job: %+v", p)
	}
	if h := byID[6]; h.State != "PENDING" || h.CPUs != 2 || h.MemMiB != 2048 {
		t.Errorf("the held job: %+v", h)
	}
}

// The 24.11 testbed's recording (v0.0.42) has a running job on a typed
// GPU: counted once, by its type, though Slurm lists it as gres/gpu and
// gres/gpu:a100.
func TestLiveJobsTestbed2411Recording(t *testing.T) {
	r, err := os.Open("testdata/testbed-24.11/slurm-v0.0.42-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ans, err := DecodeLiveJobs(r)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Cluster != "tb2411" || ans.Ended != 3 || len(ans.Jobs) != 2 {
		t.Fatalf("cluster %q, %d live, %d ended; want tb2411, 2 and 3", ans.Cluster, len(ans.Jobs), ans.Ended)
	}
	g := ans.Jobs[0]
	if g.JobID != 3 || g.State != "RUNNING" || !reflect.DeepEqual(g.GPUs, map[string]int64{"a100": 1}) || g.CPUs != 2 ||
		g.MemMiB != 600 || g.Billing != 12 || g.Start.IsZero() {
		t.Errorf("the typed GPU job: %+v", g)
	}
	if p := ans.Jobs[1]; p.JobID != 4 || p.State != "PENDING" || !p.Start.IsZero() {
		t.Errorf("the pending job: %+v", p)
	}
}

func liveDoc(jobs ...string) string {
	return `{"meta": {"slurm": {"cluster": "c1"}}, "errors": [], "warnings": [], "jobs": [` + strings.Join(jobs, ",") + `]}`
}

// One record at a time: each shape slurmctld sends, and each way a record
// can be unreadable (rejected with why, the others kept).
func TestLiveJobRecords(t *testing.T) {
	const base = `"job_id": 7, "user_name": "ann", "account": "phys", "partition": "gpu", "qos": "normal", "submit_time": 1700000000`
	for _, c := range []struct {
		name   string
		record string
		want   *billing.RunningJob // nil: not a live job
		ended  bool
		reject string
	}{
		{name: "v0.0.38 running, typed GPUs",
			record: `{` + base + `, "job_state": "RUNNING", "start_time": 1700000100, "time_limit": 60,
				"tres_req_str": "cpu=4,mem=8G,node=1,billing=24,gres/gpu=2,gres/gpu:a100=2"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "RUNNING",
				Submit: time.Unix(1700000000, 0).UTC(), Start: time.Unix(1700000100, 0).UTC(), TimeLimit: time.Hour,
				CPUs: 4, MemMiB: 8192, Nodes: 1, Billing: 24, GPUs: map[string]int64{"a100": 2}}},
		{name: "typed and untyped GPUs",
			record: `{` + base + `, "job_state": "RUNNING", "start_time": 1700000100, "tres_req_str": "cpu=1,gres/gpu=3,gres/gpu:a100=1"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "RUNNING",
				Submit: time.Unix(1700000000, 0).UTC(), Start: time.Unix(1700000100, 0).UTC(),
				CPUs: 1, GPUs: map[string]int64{"a100": 1, "": 2}}},
		{name: "v0.0.40+ state flags and numbers as objects, no limit",
			record: `{` + base + `, "job_state": ["RUNNING", "COMPLETING"], "start_time": {"set": true, "infinite": false, "number": 1700000100},
				"time_limit": {"set": false, "infinite": true, "number": 0}, "tres_req_str": "",
				"cpus": {"set": true, "number": 8}, "node_count": {"set": true, "number": 2},
				"memory_per_node": {"set": true, "number": 1000}, "billable_tres": {"set": true, "number": 8.5}}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "COMPLETING",
				Submit: time.Unix(1700000000, 0).UTC(), Start: time.Unix(1700000100, 0).UTC(),
				CPUs: 8, MemMiB: 2000, Nodes: 2, Billing: 8}},
		{name: "allocation when no request is listed",
			record: `{` + base + `, "job_state": "RUNNING", "start_time": 1700000100, "tres_alloc_str": "cpu=2,mem=1000M,node=1"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "RUNNING",
				Submit: time.Unix(1700000000, 0).UTC(), Start: time.Unix(1700000100, 0).UTC(), CPUs: 2, MemMiB: 1000, Nodes: 1}},
		{name: "pending: the estimated start is no start",
			record: `{` + base + `, "job_state": ["PENDING"], "start_time": {"set": true, "number": 1800000000},
				"time_limit": 4294967295, "tres_req_str": "cpu=1,mem=500M,node=1,billing=1"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "PENDING",
				Submit: time.Unix(1700000000, 0).UTC(), CPUs: 1, MemMiB: 500, Nodes: 1, Billing: 1}},
		{name: "requeued waits again",
			record: `{` + base + `, "job_state": ["PENDING", "REQUEUED"], "start_time": 1700000100, "tres_req_str": "cpu=1"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "REQUEUED",
				Submit: time.Unix(1700000000, 0).UTC(), CPUs: 1}},
		{name: "NO_VAL start", record: `{` + base + `, "job_state": "RUNNING", "start_time": 4294967294, "tres_req_str": "cpu=1"}`,
			want: &billing.RunningJob{JobID: 7, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal", State: "RUNNING",
				Submit: time.Unix(1700000000, 0).UTC(), CPUs: 1}},
		{name: "completed", record: `{` + base + `, "job_state": ["COMPLETED"], "tres_req_str": "cpu=1"}`, ended: true},
		{name: "cancelled 22.05", record: `{` + base + `, "job_state": "CANCELLED", "tres_req_str": "cpu=1"}`, ended: true},
		{name: "no state", record: `{` + base + `, "tres_req_str": "cpu=1"}`, reject: "no job state"},
		{name: "bad TRES", record: `{` + base + `, "job_state": "RUNNING", "tres_req_str": "cpu=lots"}`, reject: "tres_req_str"},
		{name: "negative TRES", record: `{` + base + `, "job_state": "RUNNING", "tres_req_str": "cpu=-1"}`, reject: "negative"},
		{name: "no job id", record: `{"user_name": "ann", "account": "phys", "submit_time": 1700000000, "job_state": "RUNNING"}`,
			reject: "no job id"},
		{name: "absurd memory", record: `{` + base + `, "job_state": "RUNNING", "cpus": 4, "memory_per_cpu": 9223372036854775807}`,
			reject: "MiB of requested memory"},
		{name: "a job id that is text", record: `{"job_id": "seven", "job_state": "RUNNING"}`, reject: "unreadable job record"},
		{name: "state of the wrong type", record: `{` + base + `, "job_state": {"current": 1}}`, reject: "unreadable job record"},
		{name: "not an object", record: `[1, 2]`, reject: "unreadable job record"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ans, err := DecodeLiveJobs(strings.NewReader(liveDoc(c.record, `{`+base+`, "job_state": "RUNNING", "start_time": 1700000100}`)))
			if err != nil {
				t.Fatal(err)
			}
			// The second record is always fine: one bad record costs only itself.
			if len(ans.Jobs) == 0 || ans.Jobs[len(ans.Jobs)-1].State != "RUNNING" {
				t.Fatalf("the good record after it was lost: %+v", ans)
			}
			switch {
			case c.reject != "":
				if len(ans.Rejects) != 1 || !strings.Contains(ans.Rejects[0].Err, c.reject) || ans.Rejects[0].Line != 1 {
					t.Fatalf("rejects %+v, want one for record 1 saying %q", ans.Rejects, c.reject)
				}
			case c.ended:
				if ans.Ended != 1 || len(ans.Jobs) != 1 {
					t.Fatalf("ended %d, jobs %d", ans.Ended, len(ans.Jobs))
				}
			default:
				if len(ans.Rejects) > 0 {
					t.Fatalf("rejected: %+v", ans.Rejects)
				}
				if got := ans.Jobs[0]; !reflect.DeepEqual(got, *c.want) {
					t.Fatalf("got  %+v\nwant %+v", got, *c.want)
				}
			}
		})
	}
}

// Answers that are not a job list fail whole with a clear error, never a
// panic and never an empty list that would read as "nothing runs".
func TestDecodeLiveJobsBrokenAnswers(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"empty", ``, "truncated"},
		{"cut off", `{"jobs": [{"job_id": 1, "job_state": "RUNNING"`, "truncated"},
		{"broken inside a record", `{"jobs": [{"job_id": 1, "job_state": "RUNNING"]}`, "job record 1"},
		{"cut off after the list", `{"jobs": []`, "truncated"},
		{"not an object", `[]`, "unexpected JSON"},
		{"jobs not a list", `{"jobs": {"job_id": 1}}`, "unexpected JSON"},
		{"not JSON", `<html>bad gateway</html>`, "invalid character"},
		{"errors", `{"jobs": [], "errors": [{"error_number": 2010, "error": "Unable to query jobs"}]}`, "Unable to query jobs"},
		{"auth", `{"jobs": [], "errors": [{"error_number": 1007, "error": "Protocol authentication error"}]}`, ErrAuth.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeLiveJobs(strings.NewReader(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one saying %q", err, c.want)
			}
		})
	}
	// "Nothing found" is an empty list, not a failure.
	ans, err := DecodeLiveJobs(strings.NewReader(`{"jobs": [], "errors": [{"error_number": 9003, "error": "Nothing found"}]}`))
	if err != nil || len(ans.Jobs) != 0 {
		t.Fatalf("%+v %v", ans, err)
	}
}

func FuzzDecodeLiveJobs(f *testing.F) {
	f.Add([]byte(liveDoc(`{"job_id": 7, "user_name": "a", "account": "b", "submit_time": 1, "job_state": "RUNNING", "tres_req_str": "cpu=1,gres/gpu:x=1"}`)))
	f.Add([]byte(liveDoc(`{"job_id": {"set": true, "number": 7}, "job_state": ["PENDING", "REQUEUED"], "cpus": {"number": 1e300}}`)))
	f.Add([]byte(`{"jobs": [null, 1, "x", {}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := DecodeLiveJobs(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, j := range ans.Jobs {
			if j.JobID <= 0 || j.CPUs < 0 || j.MemMiB < 0 || j.State == "" {
				t.Fatalf("an implausible job got through: %+v", j)
			}
		}
	})
}

// The newest slurmctld version each release offers is picked, from the
// same OpenAPI documents as the slurmdb version.
func TestPickLiveVersionOnEveryRelease(t *testing.T) {
	for release, want := range map[string]string{"22.05": "v0.0.38", "24.05": "v0.0.41", "24.11": "v0.0.42", "25.11": "v0.0.44"} {
		b, err := os.ReadFile("testdata/openapi/" + release + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Paths map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var paths []string
		for p := range doc.Paths {
			paths = append(paths, p)
		}
		if got, err := PickLiveVersion(paths); err != nil || got != want {
			t.Errorf("%s: picked %q (%v), want %s", release, got, err, want)
		}
	}
	_, err := PickLiveVersion([]string{"/slurm/v0.0.37/jobs", "/slurmdb/v0.0.38/jobs"})
	if err == nil || !strings.Contains(err.Error(), "slurm paths seen: /slurm/v0.0.37/jobs") {
		t.Errorf("err %v", err)
	}
}

// countingCred counts renewals.
type countingCred struct{ invalidated int }

func (c *countingCred) Credential(context.Context) (Credential, error) {
	return Credential{User: "tally", Token: Token{Value: "t"}}, nil
}
func (c *countingCred) Invalidate() { c.invalidated++ }

// Over HTTP: the path asked, a refused token renewed once, a slurmrestd
// without the endpoint a clear failure.
func TestLiveJobsOverHTTP(t *testing.T) {
	fixture, err := os.ReadFile("testdata/upstream/25.11/0.0.44/slurm-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		answers    []int // status of each call in turn
		wantErr    error
		wantJobs   bool
		wantRenews int
	}{
		{"ok", []int{200}, nil, true, 0},
		{"refused once", []int{401, 200}, nil, true, 1},
		{"refused twice", []int{401, 401}, ErrAuth, false, 1},
		{"no such endpoint", []int{404}, nil, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/slurm/v0.0.44/jobs" || r.Header.Get("X-SLURM-USER-NAME") != "tally" {
					t.Errorf("asked %s as %q", r.URL.Path, r.Header.Get("X-SLURM-USER-NAME"))
				}
				status := c.answers[min(calls, len(c.answers)-1)]
				calls++
				switch status {
				case 200:
					w.Header().Set("Content-Type", "application/json")
					w.Write(fixture)
				case 404:
					http.Error(w, "Unable find requested URL", status)
				default:
					http.Error(w, "Authentication failure", status)
				}
			}))
			defer srv.Close()
			cl, err := NewClient(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			creds := &countingCred{}
			ans, err := cl.LiveJobs(context.Background(), creds, "v0.0.44")
			switch {
			case c.wantJobs && (err != nil || len(ans.Jobs) == 0):
				t.Fatalf("%d jobs, %v", len(ans.Jobs), err)
			case !c.wantJobs && err == nil:
				t.Fatal("no error")
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if creds.invalidated != c.wantRenews {
				t.Errorf("renewed %d times, want %d", creds.invalidated, c.wantRenews)
			}
		})
	}
}
