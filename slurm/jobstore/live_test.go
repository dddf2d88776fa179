package jobstore

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// A refresh replaces one cluster's live jobs whole and says so; a failed
// one keeps the last known jobs and records why; the readers filter by
// cluster, accounts and person.
func TestReplaceLiveJobs(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	start := at.Add(-time.Hour)
	running := billing.RunningJob{Cluster: "c1", JobID: 10, User: "ann", Account: "phys", Partition: "gpu", QOS: "normal",
		State: "RUNNING", Submit: start.Add(-time.Minute), Start: start, TimeLimit: 2 * time.Hour,
		CPUs: 4, MemMiB: 8192, Nodes: 1, Billing: 24, GPUs: map[string]int64{"a100": 2, "": 1}}
	pending := billing.RunningJob{JobID: 11, User: "bob", Account: "chem", State: "PENDING", Submit: start, CPUs: 1}
	other := billing.RunningJob{Cluster: "c2", JobID: 10, User: "ann", Account: "phys", State: "RUNNING", Submit: start, Start: start, CPUs: 1}

	if err := s.ReplaceLiveJobs(ctx, "c1", []billing.RunningJob{running, pending}, at, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceLiveJobs(ctx, "c2", []billing.RunningJob{other}, at, ""); err != nil {
		t.Fatal(err)
	}
	pending.Cluster = "c1" // filled from the cluster replaced
	for _, c := range []struct {
		name     string
		cluster  string
		accounts []string
		user     string
		want     []billing.RunningJob
	}{
		{"everything", "", nil, "", []billing.RunningJob{running, pending, other}},
		{"one cluster", "c1", nil, "", []billing.RunningJob{running, pending}},
		{"an account", "", []string{"phys"}, "", []billing.RunningJob{running, other}},
		{"a person in accounts", "", []string{"phys", "chem"}, "bob", []billing.RunningJob{pending}},
		{"no accounts at all", "", []string{}, "", nil},
		{"nobody's", "", nil, "carol", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := LiveJobs(ctx, pool, c.cluster, c.accounts, c.user)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) || (len(got) > 0 && !reflect.DeepEqual(got, c.want)) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}

	// The next refresh: job 10 ended, 12 started.
	later := at.Add(5 * time.Minute)
	next := billing.RunningJob{JobID: 12, User: "ann", Account: "phys", State: "RUNNING", Submit: at, Start: at, CPUs: 2}
	if err := s.ReplaceLiveJobs(ctx, "c1", []billing.RunningJob{pending, next}, later, ""); err != nil {
		t.Fatal(err)
	}
	got, err := LiveJobs(ctx, pool, "c1", nil, "")
	if err != nil || len(got) != 2 || got[0].JobID != 11 || got[1].JobID != 12 {
		t.Fatalf("after the second refresh: %+v %v", got, err)
	}

	// slurmrestd down: the jobs stay, the error and its time are kept.
	failed := later.Add(5 * time.Minute)
	if err := s.ReplaceLiveJobs(ctx, "c1", nil, failed, "slurmrestd HTTP 502"); err != nil {
		t.Fatal(err)
	}
	if got, err := LiveJobs(ctx, pool, "c1", nil, ""); err != nil || len(got) != 2 {
		t.Fatalf("a failed refresh lost the jobs: %+v %v", got, err)
	}
	// A cluster never read before records its failure too.
	if err := s.ReplaceLiveJobs(ctx, "c3", nil, failed, "no token"); err != nil {
		t.Fatal(err)
	}
	refs, err := LiveRefreshes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	want := []LiveRefresh{
		{Cluster: "c1", RefreshedAt: failed, Jobs: 2, Error: "slurmrestd HTTP 502"},
		{Cluster: "c2", RefreshedAt: at, Jobs: 1},
		{Cluster: "c3", RefreshedAt: failed, Error: "no token"},
	}
	for i := range refs {
		refs[i].RefreshedAt = refs[i].RefreshedAt.UTC()
	}
	if !reflect.DeepEqual(refs, want) {
		t.Fatalf("refreshes %+v\nwant %+v", refs, want)
	}
	// Success clears the error.
	if err := s.ReplaceLiveJobs(ctx, "c1", nil, failed.Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if refs, _ := LiveRefreshes(ctx, pool); refs[0].Error != "" || refs[0].Jobs != 0 {
		t.Fatalf("after a good refresh: %+v", refs[0])
	}
}

// Jobs that are not the cluster's, or one listed twice, fail the refresh
// with a reason and change nothing.
func TestReplaceLiveJobsRefusesMixedLists(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	j := billing.RunningJob{JobID: 1, User: "ann", Account: "phys", State: "RUNNING"}
	for _, c := range []struct {
		name string
		jobs []billing.RunningJob
		want string
	}{
		{"another cluster's", []billing.RunningJob{{Cluster: "c2", JobID: 1, State: "RUNNING"}}, "is of cluster c2"},
		{"twice", []billing.RunningJob{j, j}, "listed twice"},
	} {
		err := s.ReplaceLiveJobs(ctx, "c1", c.jobs, time.Now(), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if refs, err := LiveRefreshes(ctx, pool); err != nil || len(refs) != 0 {
		t.Fatalf("%+v %v", refs, err)
	}
}
