package slurm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// Recorded from the 24.11 testbed: /slurmdb/v0.0.42/accounts names
// coordinators only when asked (WithCoordinators). Served back as
// slurmrestd answered, the parser finds alice coordinating physics.
func TestAssociations2411AsksForCoordinators(t *testing.T) {
	dir := "testdata/testbed-24.11/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := ""
		switch r.URL.Path {
		case "/slurmdb/v0.0.42/associations":
			file = "slurmdb-v0.0.42-associations.json"
		case "/slurmdb/v0.0.42/accounts":
			file = "slurmdb-v0.0.42-accounts.json" // what 24.11 answers when not asked
			if r.URL.Query().Get("WithCoordinators") == "true" {
				file = "slurmdb-v0.0.42-accounts-with-coordinators.json"
			}
		}
		b, err := os.ReadFile(dir + file)
		if file == "" || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred := fixedCred{Credential{User: "tally", Token: Token{Value: "x", Expires: time.Now().Add(time.Hour)}}}
	as, cs, err := c.Associations(context.Background(), cred, "v0.0.42")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) < 4 || len(cs) != 1 || cs[0].Account != "physics" || cs[0].User != "alice" {
		t.Fatalf("%d associations, coordinators %+v", len(as), cs)
	}
}

// Recorded from the 24.11 testbed: a requeued job's first attempt arrives
// as ["PENDING", "REQUEUED"]; it is stored as REQUEUED, as sacct lists it.
func TestRequeuedAttempt2411(t *testing.T) {
	f, err := os.Open("testdata/testbed-24.11/slurmdb-v0.0.42-job-requeued.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var states []string
	if _, err := DecodeJobs(f, func(j Job) error { states = append(states, j.State); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0] != "REQUEUED" {
		t.Fatalf("states %v, want the first attempt REQUEUED", states)
	}
}

// Recorded from the 24.11 testbed: a requeued job cancelled before its
// second attempt started gives that attempt the start 4294967294 (NO_VAL).
// It is a record with no start, as sacct lists it ("Unknown"), not one that
// "ends before it starts".
func TestNeverStartedAttempt2411(t *testing.T) {
	f, err := os.Open("testdata/testbed-24.11/slurmdb-v0.0.42-job-requeued-cancelled.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var jobs []Job
	ans, err := DecodeJobs(f, func(j Job) error { jobs = append(jobs, j); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[1].State != "CANCELLED" || !jobs[1].Start.IsZero() {
		t.Fatalf("jobs %+v (%+v)", jobs, ans)
	}
	if why := jobs[1].Implausible(); why != "" {
		t.Errorf("the never-started attempt is rejected: %s", why)
	}
}
