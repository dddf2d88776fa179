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
