package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm/jobstore"
)

// After each scheduled ingest the live job list is read and stored; when
// slurmctld cannot answer the ingest still succeeds, the last known jobs
// stay and the refresh records why.
func TestScheduledIngestRefreshesLiveJobs(t *testing.T) {
	jobs := fixture(t, "slurmdb-v0.0.38-jobs.json")
	live := fixture(t, "slurm-v0.0.38-jobs.json")
	var liveDown atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi/v3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"paths":{"/slurmdb/v0.0.38/jobs":{},"/slurm/v0.0.37/jobs":{},"/slurm/v0.0.38/jobs":{}}}`)
	})
	mux.HandleFunc("GET /slurmdb/v0.0.38/jobs", serveJSON(200, jobs))
	mux.HandleFunc("GET /slurm/v0.0.38/jobs", func(w http.ResponseWriter, r *http.Request) {
		if liveDown.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errors": [{"error_number": 1012, "error": "Unable to contact slurm controller (connect failure)"}], "jobs": []}`)
			return
		}
		serveJSON(200, live)(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	in, store := restIngester(t, srv.URL, &fakeCreds{}, 5*time.Second)
	pool := store.Pool()
	ctx := context.Background()
	s := NewScheduler(in, pool, time.Minute, 30*time.Minute, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	// A job of a cluster that no longer lists any: emptied by the refresh.
	if err := store.ReplaceLiveJobs(ctx, "old", nil, time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return clock }
	if err := s.Once(ctx, "schedule"); err != nil {
		t.Fatal(err)
	}
	got, err := jobstore.LiveJobs(ctx, pool, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("%d live jobs stored, want the recording's 7 (job 4 had ended)", len(got))
	}
	for _, j := range got {
		if j.Cluster != "testbed" {
			t.Fatalf("job %d stored for cluster %q", j.JobID, j.Cluster)
		}
	}
	refs, err := jobstore.LiveRefreshes(ctx, pool)
	if err != nil || len(refs) != 2 || refs[0].Cluster != "old" || !refs[0].RefreshedAt.Equal(clock) || refs[1].Jobs != 7 || refs[1].Error != "" || !refs[1].RefreshedAt.Equal(clock) {
		t.Fatalf("refreshes %+v %v", refs, err)
	}

	liveDown.Store(true)
	clock = clock.Add(time.Minute)
	if err := s.Once(ctx, "schedule"); err != nil {
		t.Fatalf("a failed live refresh failed the ingest: %v", err)
	}
	if got, err := jobstore.LiveJobs(ctx, pool, "testbed", nil, ""); err != nil || len(got) != 7 {
		t.Fatalf("the last known jobs were lost: %d %v", len(got), err)
	}
	refs, err = jobstore.LiveRefreshes(ctx, pool)
	if err != nil || refs[1].Error == "" || !refs[1].RefreshedAt.Equal(clock) || refs[1].Jobs != 7 {
		t.Fatalf("the failure is not recorded: %+v %v", refs, err)
	}
}
