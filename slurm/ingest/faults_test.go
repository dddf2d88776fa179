package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// fakeCreds counts how often a refused token was dropped.
type fakeCreds struct{ invalidated atomic.Int32 }

func (f *fakeCreds) Credential(context.Context) (slurm.Credential, error) {
	return slurm.Credential{User: "tally", Token: slurm.Token{Value: "t", Expires: time.Now().Add(time.Hour)}}, nil
}
func (f *fakeCreds) Invalidate() { f.invalidated.Add(1) }

// fakeRestd imitates slurmrestd 22.05 with recorded answers; jobs decides
// how /slurmdb/v0.0.38/jobs answers.
func fakeRestd(t *testing.T, jobs http.HandlerFunc) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi/v3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"openapi":"3.0.3","paths":{"/slurmdb/v0.0.36/jobs":{},"/slurmdb/v0.0.37/jobs":{},"/slurmdb/v0.0.38/jobs":{},"/slurm/v0.0.38/jobs":{}}}`)
	})
	mux.HandleFunc("GET /slurmdb/v0.0.38/jobs", jobs)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func fixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../testdata/testbed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serveJSON(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}
}

func restIngester(t *testing.T, url string, creds slurm.CredentialSource, timeout time.Duration) (*Ingester, *jobstore.Store) {
	store := jobstore.New(pgtest.New(t))
	c, err := slurm.NewClient(url, &http.Client{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(Config{Source: "rest", Cluster: "testbed", Window: 24 * time.Hour, Retry: slurm.Retry{Attempts: 3, Backoff: 10 * time.Millisecond}},
		store, c, creds, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return in, store
}

func countJobs(t *testing.T, s *jobstore.Store) (n int) {
	s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n)
	return n
}

var window = [2]time.Time{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}

func TestFaults(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		wantJobs int
		wantErr  string // substring; "" means success
	}{
		{"recorded answer", serveJSON(200, full), 15, ""},
		{"empty window (9003)", serveJSON(200, fixture(t, "slurmdb-v0.0.38-jobs-empty-window.json")), 0, ""},
		{"truncated JSON", serveJSON(200, full[:len(full)/2]), 0, "truncated"},
		{"500 with errors", serveJSON(500, fixture(t, "errors/epoch-start-time.json")), 0, "Unable to parse time format"},
		{"slurmdbd down (200 + 7000)", serveJSON(200, fixture(t, "errors/slurmdbd-down-slurmdb-jobs.json")), 0, "Unable to connect to database"},
		{"expired token (200 + 1007)", serveJSON(200, fixture(t, "auth/slurmdb-expired-token.json")), 0, "refused the token"},
		{"401 text", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(401)
			io.WriteString(w, "Authentication failure")
		}, 0, "refused the token"},
		{"HTML from a proxy", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(200)
			io.WriteString(w, "<html>maintenance</html>")
		}, 0, "maintenance"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, 0, "Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := &fakeCreds{}
			srv := fakeRestd(t, tc.handler)
			in, store := restIngester(t, srv.URL, creds, 300*time.Millisecond)
			sum, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if got := countJobs(t, store); got != tc.wantJobs {
				t.Fatalf("%d jobs stored, want %d (no partial windows)", got, tc.wantJobs)
			}
			var runErr, source string
			store.Pool().QueryRow(context.Background(), `SELECT error, source FROM ingest_runs ORDER BY id DESC LIMIT 1`).Scan(&runErr, &source)
			if tc.wantErr != "" && (source != "none" || runErr == "") {
				t.Errorf("failed window logged as source=%q error=%q", source, runErr)
			}
			if tc.wantErr == "" && sum.Counts.New != tc.wantJobs {
				t.Errorf("counts %+v", sum.Counts)
			}
			if strings.Contains(tc.wantErr, "token") && creds.invalidated.Load() != 1 {
				t.Errorf("token refreshed %d times, want once", creds.invalidated.Load())
			}
		})
	}
}

// 503 twice, then the answer: retried with back-off, not failed.
func TestRetriesTransientFailures(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	var calls atomic.Int32
	srv := fakeRestd(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(503)
			io.WriteString(w, "slurmrestd busy")
			return
		}
		serveJSON(200, full)(w, r)
	})
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
	if _, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || countJobs(t, store) != 15 {
		t.Fatalf("calls %d, jobs %d", calls.Load(), countJobs(t, store))
	}
}

// A 50 MB answer streams through: the heap does not grow with it.
func TestLargeAnswerMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("large answer")
	}
	const target = 50 << 20
	record := jobRecordJSON()
	srv := fakeRestd(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"meta":{},"errors":[],"jobs":[`)
		written := 0
		for i := 1; written < target; i++ {
			if i > 1 {
				io.WriteString(w, ",")
			}
			n, _ := fmt.Fprintf(w, record, i)
			written += n
		}
		io.WriteString(w, `]}`)
	})
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Minute)
	runtime.GC()
	var peak uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak {
					peak = ms.HeapInuse
				}
			}
		}
	}()
	sum, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records (%d MB) ingested, peak heap %d MB", sum.Counts.New, target>>20, peak>>20)
	if sum.Counts.New < 20000 || countJobs(t, store) != sum.Counts.New {
		t.Fatalf("counts %+v", sum.Counts)
	}
	if peak > 64<<20 {
		t.Fatalf("peak heap %d MB for a %d MB answer: not streaming", peak>>20, target>>20)
	}
}

// jobRecordJSON is one realistic v0.0.38 record with a %d job id.
func jobRecordJSON() string {
	return `{"account":"physics","cluster":"testbed","job_id":%d,"name":"synthetic","user":"alice","partition":"cpu","qos":"normal","nodes":"node01",
"array":{"job_id":0,"task_id":null},"het":{"job_id":0,"job_offset":null},"state":{"current":"COMPLETED","reason":"None"},
"exit_code":{"status":"SUCCESS","return_code":0},"time":{"elapsed":3600,"eligible":1795477178,"end":1795480778,"start":1795477178,
"submission":1795477178,"suspended":0,"limit":120,"total":{"seconds":0,"microseconds":0},"user":{"seconds":0,"microseconds":0},"system":{"seconds":0,"microseconds":0}},
"tres":{"allocated":[{"type":"cpu","name":null,"id":1,"count":4},{"type":"mem","name":null,"id":2,"count":8192},{"type":"node","name":null,"id":4,"count":1},{"type":"billing","name":null,"id":5,"count":4}],
"requested":[{"type":"cpu","name":null,"id":1,"count":4},{"type":"mem","name":null,"id":2,"count":8192},{"type":"node","name":null,"id":4,"count":1},{"type":"billing","name":null,"id":5,"count":4}]},
"steps":[{"step":{"job_id":1,"id":"batch","name":"batch"},"state":"COMPLETED","exit_code":{"status":"SUCCESS","return_code":0},
"time":{"elapsed":3600,"end":1795480778,"start":1795477178,"suspended":0,"total":{"seconds":12000,"microseconds":5},"user":{"seconds":11000,"microseconds":0},"system":{"seconds":1000,"microseconds":5}},
"tasks":{"count":1},"nodes":{"count":1,"range":"node01","list":["node01"]},"tres":{"allocated":[],"requested":{"max":[],"min":[],"average":[],"total":[]},"consumed":{"max":[],"min":[],"average":[],"total":[]}}}],
"comment":{"administrator":null,"job":null,"system":null},"flags":["CLEAR_SCHEDULING"],"priority":1,"required":{"CPUs":4,"memory":8192}}`
}
