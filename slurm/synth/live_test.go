package synth

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// The imitation's live job list reads, through Tally's own decoder, as
// the jobs the generator left running and pending: that decoder was
// written against a real slurmctld's answer, so this is what proves the
// imitation's shape.
func TestRestdLiveJobs(t *testing.T) {
	to := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		cluster    string
		cfg        Config
		wantArrays bool // an array's pending tasks share one record
	}{
		{"default partitions", "hpc", Config{Seed: 3, From: to.AddDate(0, 0, -2), To: to, JobsPerDay: 2000}, false},
		{"busy GPU cluster", "gpu", Config{Seed: 5, From: to.AddDate(0, 0, -1), To: to, JobsPerDay: 20000,
			Partitions: []string{"gpu", "gpu-short"}, GPUTypes: []string{"h100", "a100"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Cluster = tc.cluster
			var jobs []slurm.Job
			if err := Generate(tc.cfg, func(j slurm.Job) error { jobs = append(jobs, j); return nil }); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(NewClusterRestd(tc.cluster, jobs, DefaultUsers(), nil))
			defer srv.Close()
			get := func(path string) *http.Response {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				req.Header.Set("X-SLURM-USER-NAME", "tally")
				req.Header.Set("X-SLURM-USER-TOKEN", "t")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}

			// Discovery finds the list where ingest looks for it.
			resp := get("/openapi/v3")
			var doc struct{ Paths map[string]any }
			json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			paths := make([]string, 0, len(doc.Paths))
			for p := range doc.Paths {
				paths = append(paths, p)
			}
			if v, err := slurm.PickLiveVersion(paths); err != nil || v != "v0.0.38" {
				t.Fatalf("live version from %v: %q %v", paths, v, err)
			}

			resp = get("/slurm/v0.0.38/jobs")
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
				t.Fatalf("%d %s", resp.StatusCode, ct)
			}
			ans, err := slurm.DecodeLiveJobs(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if len(ans.Rejects) > 0 || ans.Ended != 0 || ans.Cluster != tc.cluster {
				t.Fatalf("cluster %q, ended %d, rejects %v", ans.Cluster, ans.Ended, ans.Rejects)
			}
			got := map[int64]int{}
			for i, j := range ans.Jobs {
				if _, dup := got[j.JobID]; dup {
					t.Fatalf("job %d listed twice", j.JobID) // Tally keys live jobs by cluster and id
				}
				got[j.JobID] = i
			}

			running, pending, arrays := 0, 0, 0
			for _, want := range jobs {
				if !want.End.IsZero() {
					// A requeued job's rerun and an array's shared record
					// (which carries task 0's id) are listed under the id.
					if _, ok := got[want.JobID]; ok && want.State != "REQUEUED" && want.ArrayJobID != want.JobID {
						t.Errorf("job %d ended (%s) but is listed", want.JobID, want.State)
					}
					continue
				}
				id := want.JobID
				if want.State == "PENDING" && want.ArrayJobID != 0 {
					if i, ok := got[want.ArrayJobID]; ok && ans.Jobs[i].State == "PENDING" {
						id = want.ArrayJobID // the array's shared record
						arrays++
					}
				}
				i, ok := got[id]
				if !ok {
					t.Errorf("%s job %d is not listed", want.State, want.JobID)
					continue
				}
				j := ans.Jobs[i]
				if j.State != want.State || j.User != want.User || j.Account != want.Account || j.Partition != want.Partition ||
					j.QOS != want.QOS || !j.Submit.Equal(want.Submit) || j.Cluster != tc.cluster {
					t.Errorf("job %d: got %+v\nwant %+v", want.JobID, j, want)
				}
				if want.State == "PENDING" {
					pending++
					if !j.Start.IsZero() {
						t.Errorf("pending job %d starts %s", want.JobID, j.Start)
					}
					continue
				}
				running++
				w := want.Allocated
				if !j.Start.Equal(want.Start) || j.CPUs != w.CPU || j.MemMiB != w.MemMiB || j.Nodes != w.Nodes || j.Billing != w.Billing ||
					j.TimeLimit != time.Duration(*want.TimeLimitMinutes)*time.Minute {
					t.Errorf("running job %d: got %+v\nwant %+v", want.JobID, j, want)
				}
				if (w.GPU > 0 || len(j.GPUs) > 0) && !maps.Equal(j.GPUs, w.GPUByType) {
					t.Errorf("running job %d: GPUs %v, want %v", want.JobID, j.GPUs, w.GPUByType)
				}
			}
			if running == 0 || pending == 0 || (tc.wantArrays && arrays == 0) {
				t.Errorf("running %d, pending %d, pending array tasks under their array's record %d", running, pending, arrays)
			}
		})
	}
}
