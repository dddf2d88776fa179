package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// With several clusters, each read from its own slurmctld by its own
// ingester, one cluster's live refresh (or its failure) leaves the other
// clusters' lists as their own refreshes stored them; a cluster no
// ingester reads any more is still emptied.
func TestLiveRefreshLeavesOtherClusters(t *testing.T) {
	live := fixture(t, "slurm-v0.0.38-jobs.json")
	cases := []struct {
		name      string
		others    []string
		down      bool // testbed's slurmctld fails
		gpuJobs   int  // the gpu cluster's stored jobs afterwards
		gpuFailed bool // its refresh marked failed
	}{
		{"one installation-wide cluster list", nil, false, 0, false},
		{"gpu read by another ingester", []string{"gpu"}, false, 1, false},
		{"failure marks only its own", []string{"gpu"}, true, 1, false},
		{"failure without others marks every known", nil, true, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /openapi/v3", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"paths":{"/slurm/v0.0.38/jobs":{}}}`)
			})
			if tc.down {
				mux.HandleFunc("GET /slurm/v0.0.38/jobs", serveJSON(500, []byte(`{"errors":[{"error_number":1012,"error":"Unable to contact slurm controller (connect failure)"}],"jobs":[]}`)))
			} else {
				mux.HandleFunc("GET /slurm/v0.0.38/jobs", serveJSON(200, live))
			}
			srv := httptest.NewServer(mux)
			defer srv.Close()
			in, store := restIngester(t, srv.URL, &fakeCreds{}, 5*time.Second)
			in.cfg.OtherClusters = tc.others
			ctx := context.Background()
			now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
			gpuJob := billing.RunningJob{Cluster: "gpu", JobID: 77, User: "alice", Account: "physics", Partition: "gpu", State: "RUNNING",
				Submit: now.Add(-time.Hour), Start: now.Add(-time.Hour), CPUs: 4, Nodes: 1, GPUs: map[string]int64{"h100": 1}}
			if err := store.ReplaceLiveJobs(ctx, "gpu", []billing.RunningJob{gpuJob}, now.Add(-time.Minute), ""); err != nil {
				t.Fatal(err)
			}
			_, err := in.RefreshLive(ctx, now)
			if (err != nil) != tc.down {
				t.Fatalf("refresh: %v", err)
			}
			got, err := jobstore.LiveJobs(ctx, store.Pool(), "gpu", nil, "")
			if err != nil || len(got) != tc.gpuJobs {
				t.Errorf("gpu cluster's live jobs: %d %v, want %d", len(got), err, tc.gpuJobs)
			}
			refs, err := jobstore.LiveRefreshes(ctx, store.Pool())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range refs {
				if r.Cluster == "gpu" && (r.Error != "") != tc.gpuFailed {
					t.Errorf("gpu cluster's refresh error %q, want failed %v", r.Error, tc.gpuFailed)
				}
			}
		})
	}
}
