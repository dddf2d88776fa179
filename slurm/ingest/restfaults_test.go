package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// How a window fails when slurmrestd, or the proxy in front of it, goes
// wrong at the transport: a clear error, and nothing of the window stored.
func TestRESTTransportFaults(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	proxyPage := func(status int, title string) http.HandlerFunc {
		// What nginx answers when the upstream is down or a portal intercepts.
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			io.WriteString(w, "<html>\r\n<head><title>"+title+"</title></head>\r\n<body>\r\n<center><h1>"+title+"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"502 from the proxy", proxyPage(502, "502 Bad Gateway"), "502"},
		// Some Slurm releases answer a refused token with 511; Tally treats it
		// as one (mints a new token once, then fails the window).
		{"511", proxyPage(511, "511 Network Authentication Required"), "refused the token"},
		{"timeout mid-stream", func(w http.ResponseWriter, r *http.Request) {
			// Half the answer, flushed, then silence until the client gives up.
			w.Header().Set("Content-Type", "application/json")
			w.Write(full[:len(full)/2])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, "Timeout"},
		{"connection dropped mid-stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000000")
			w.Write(full[:len(full)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, "truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeRestd(t, tc.handler)
			in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
			_, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
			}
			if n := countJobs(t, store); n != 0 {
				t.Fatalf("%d jobs stored from a failed window", n)
			}
			var runErr string
			store.Pool().QueryRow(context.Background(), `SELECT error FROM ingest_runs ORDER BY id DESC LIMIT 1`).Scan(&runErr)
			if runErr == "" {
				t.Error("the failed window is not in ingest_runs")
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		in, store := restIngester(t, "http://"+addr, &fakeCreds{}, time.Second)
		_, err = in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("error %v, want connection refused", err)
		}
		if n := countJobs(t, store); n != 0 {
			t.Fatalf("%d jobs stored", n)
		}
	})
}

// A job with fields missing (as a slurmrestd built with different plugins,
// or a truncated database row, answers) is held back with a reason; the
// rest of the window is stored.
func TestRESTJobWithMissingFields(t *testing.T) {
	var answer map[string]any
	if err := json.Unmarshal(fixture(t, "slurmdb-v0.0.38-jobs.json"), &answer); err != nil {
		t.Fatal(err)
	}
	jobs := answer["jobs"].([]any)
	delete(jobs[0].(map[string]any), "user")
	delete(jobs[1].(map[string]any), "time")
	delete(jobs[2].(map[string]any), "account")
	body, _ := json.Marshal(answer)

	srv := fakeRestd(t, serveJSON(200, body))
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
	sum, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	stored := countJobs(t, store)
	if sum.Counts.Rejected != 3 || stored != len(jobs)-3 {
		t.Fatalf("%d stored, counts %+v; want %d stored and 3 rejected", stored, sum.Counts, len(jobs)-3)
	}
	rows, err := store.Pool().Query(context.Background(), `SELECT error FROM ingest_rejects ORDER BY line_no`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var why string
		rows.Scan(&why)
		if why == "" {
			t.Error("a reject without a reason")
		}
		t.Logf("reject: %s", why)
	}
}

// Slurm keeps a job name's bytes as they were given: a Latin-1 byte or an
// escaped NUL reaches Tally in the JSON and in sacct's text. The job is
// stored with those bytes shown as U+FFFD, never failing its window.
func TestOddBytesInJobNames(t *testing.T) {
	full := fixture(t, "slurmdb-v0.0.38-jobs.json")
	body := bytes.Replace(full, []byte(`"name": "b-fail"`), []byte("\"name\": \"caf\xe9 \\u0000 <b>\""), 1)
	if bytes.Equal(body, full) {
		t.Fatal("fixture changed: no job named b-fail")
	}
	srv := fakeRestd(t, serveJSON(200, body))
	in, store := restIngester(t, srv.URL, &fakeCreds{}, time.Second)
	if _, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"}); err != nil {
		t.Fatal(err)
	}
	var name string
	store.Pool().QueryRow(context.Background(), `SELECT name FROM jobs WHERE name LIKE 'caf%'`).Scan(&name)
	if name != "caf\uFFFD \uFFFD <b>" || countJobs(t, store) != 15 {
		t.Fatalf("stored name %q, %d jobs", name, countJobs(t, store))
	}
}
