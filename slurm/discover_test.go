package slurm

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Version discovery over every recorded release's OpenAPI document picks
// the newest slurmdb version it offers and Tally reads.
func TestPickVersionOnEveryRelease(t *testing.T) {
	for _, c := range []struct{ release, want string }{
		{"22.05", "v0.0.38"},
		{"24.05", "v0.0.41"}, // /slurmdb/v0.0.39/jobs beside /slurmdb/v0.0.41/jobs/
		{"24.11", "v0.0.42"}, // every jobs path with a trailing slash
		{"25.11", "v0.0.44"},
	} {
		t.Run(c.release, func(t *testing.T) {
			b, err := os.ReadFile("testdata/openapi/" + c.release + ".json")
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
			got, err := PickVersion(paths)
			if err != nil || got != c.want {
				t.Errorf("picked %q (%v), want %s", got, err, c.want)
			}
		})
	}
}

// When nothing fits, the error names what slurmrestd offered.
func TestPickVersionSaysWhatItSaw(t *testing.T) {
	for _, c := range []struct {
		name  string
		paths []string
		want  []string
	}{
		{"too new", []string{"/slurmdb/v0.0.45/jobs/", "/slurmdb/v0.0.45/job/{job_id}", "/slurm/v0.0.45/ping"},
			[]string{"/slurmdb/v0.0.45/jobs/", "/slurmdb/v0.0.45/job/{job_id}", "v0.0.36 to v0.0.44"}},
		{"no slurmdb", []string{"/slurm/v0.0.42/ping/"}, []string{"slurmdb paths seen: none"}},
		{"job only", []string{"/slurmdb/v0.0.42/job/{job_id}"}, []string{"/slurmdb/v0.0.42/job/{job_id}"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := PickVersion(c.paths)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// Coordinators are asked for the way each version wants: 24.x leaves them
// out of /accounts otherwise.
func TestAccountsQueryAsksForCoordinators(t *testing.T) {
	for v, want := range map[string]string{"v0.0.38": "", "v0.0.39": "", "v0.0.40": "with_coords=true",
		"v0.0.41": "WithCoordinators=true", "v0.0.42": "WithCoordinators=true", "v0.0.44": "WithCoordinators=true"} {
		if got := AccountsQuery(v).Encode(); got != want {
			t.Errorf("%s: %q, want %q", v, got, want)
		}
	}
}

// v0.0.40+ send a job's state as the base state and its flags; the state
// stored is what sacct prints (found by the 24.11 live test: a requeued
// attempt arrives as ["PENDING", "REQUEUED"]).
func TestJobStateFromFlags(t *testing.T) {
	for _, c := range []struct {
		in   flexStrings
		want string
	}{
		{flexStrings{"COMPLETED"}, "COMPLETED"},
		{flexStrings{"PENDING", "REQUEUED"}, "REQUEUED"},
		{flexStrings{"RUNNING", "COMPLETING"}, "COMPLETING"},
		{flexStrings{"PENDING", "REQUEUE_HOLD"}, "REQUEUE_HOLD"},
		{flexStrings{"CANCELLED", "UPDATE_DB"}, "CANCELLED"},
		{flexStrings{"REQUEUED"}, "REQUEUED"}, // a base state named like a flag
		{nil, ""},
	} {
		if got := jobState(c.in); got != c.want {
			t.Errorf("%v: %q, want %q", c.in, got, c.want)
		}
	}
}
