package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// importStandardCard stores billing/testdata/standard.yaml (the worked
// examples' card) and returns a store on pool.
func importStandardCard(t *testing.T, pool *pgxpool.Pool) *billingpg.Store {
	t.Helper()
	f, err := os.Open("../billing/testdata/standard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cards, err := billing.ParseRateFile(f, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	store := billingpg.New(pool)
	if _, err := store.Import(context.Background(), cards, "test"); err != nil {
		t.Fatal(err)
	}
	return store
}

// seedBilling stores the standard card and jobs of two users in two
// accounts, rated, and returns the job rows by job id.
// storeJobs stores jobs as one committed ingest window [from, to), the way
// ingest does.
func storeJobs(t *testing.T, e *testEnv, from, to time.Time, jobs ...slurm.Job) {
	t.Helper()
	ctx := context.Background()
	w, err := jobstore.New(e.srv.pool).Begin(ctx, "sacct")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := w.Add(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, jobstore.Run{WindowStart: from, WindowEnd: to, Source: "sacct", Trigger: "test", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func seedBilling(t *testing.T, e *testEnv) map[int64]int64 {
	t.Helper()
	ctx := context.Background()
	pool := e.srv.pool
	store := importStandardCard(t, pool)
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	mk := func(id int64, user, account, name string) slurm.Job {
		return slurm.Job{Cluster: "testbed", JobID: id, Submit: end.Add(-3 * time.Hour), Start: end.Add(-2 * time.Hour), End: end,
			User: user, Account: account, Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: name, ElapsedSeconds: 7200,
			CPUTimeMicros: 3600 * 1_000_000, Requested: slurm.TRES{CPU: 2, MemMiB: 2048, Nodes: 1}, Allocated: slurm.TRES{CPU: 2, MemMiB: 2048, Nodes: 1},
			Steps: []slurm.Step{{ID: "batch", Name: "batch", State: "COMPLETED", ElapsedSeconds: 7200, CPUTimeMicros: 3600 * 1_000_000, Tasks: 1, NodeList: "node07"}}, StepCount: 1}
	}
	storeJobs(t, e, end.Add(-time.Hour), end,
		mk(101, "tally-t-alice", "physics", "alice's job"),
		mk(102, "tally-t-coord", "physics", "coord's job"),
		mk(103, "tally-t-fin", "chem", `=HYPERLINK("http://x"),"quoted"`+"\nnewline"),
	)
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	pool.Exec(ctx, `INSERT INTO slurm_coordinators (cluster, account, username) VALUES ('testbed', 'physics', 'tally-t-coord')`)
	rows := map[int64]int64{}
	r, _ := pool.Query(ctx, `SELECT job_id, id FROM jobs`)
	for r.Next() {
		var j, id int64
		r.Scan(&j, &id)
		rows[j] = id
	}
	r.Close()
	return rows
}

// Changing an id in a URL shows nothing of anyone else.
func TestReceiptsAndJobListsAreScoped(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows := seedBilling(t, e)
	cases := []struct {
		user    string
		see     []int64 // receipts that open
		hidden  []int64 // receipts that answer 404
		listHas []string
		listNot []string
	}{
		{"tally-t-alice", []int64{101}, []int64{102, 103}, []string{"alice&#39;s job"}, []string{"coord&#39;s job", "HYPERLINK"}},
		{"tally-t-coord", []int64{101, 102}, []int64{103}, []string{"alice&#39;s job", "coord&#39;s job"}, []string{"HYPERLINK"}},
		{"tally-t-admin", []int64{101, 102, 103}, nil, []string{"alice&#39;s job", "coord&#39;s job"}, nil},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			b := newBrowser(t, e)
			b.login(c.user, pamUsers[c.user], "/")
			for _, id := range c.see {
				resp, body := b.get(fmt.Sprintf("/jobs/%d", rows[id]))
				if resp.StatusCode != 200 || !strings.Contains(body, "Receipt for job") || !strings.Contains(body, "Rate card standard v2") ||
					!strings.Contains(body, "node07") || !strings.Contains(body, "waited 01:00:00") {
					t.Errorf("receipt of job %d: %d", id, resp.StatusCode)
				}
			}
			for _, id := range c.hidden {
				if resp, body := b.get(fmt.Sprintf("/jobs/%d", rows[id])); resp.StatusCode != 404 || strings.Contains(body, "Receipt") {
					t.Errorf("receipt of job %d visible: %d", id, resp.StatusCode)
				}
				if resp, _ := b.get(fmt.Sprintf("/jobs/%d/receipt.pdf", rows[id])); resp.StatusCode != 404 {
					t.Errorf("receipt pdf of job %d visible: %d", id, resp.StatusCode)
				}
			}
			for _, id := range c.see {
				if resp, pdf := b.get(fmt.Sprintf("/jobs/%d/receipt.pdf", rows[id])); resp.StatusCode != 200 || !strings.HasPrefix(pdf, "%PDF-") {
					t.Errorf("receipt pdf of job %d: %d", id, resp.StatusCode)
				}
			}
			if resp, _ := b.get("/jobs/999999999"); resp.StatusCode != 404 {
				t.Errorf("unknown job: %d", resp.StatusCode)
			}
			_, body := b.get("/jobs")
			for _, s := range c.listHas {
				if !strings.Contains(body, s) {
					t.Errorf("job list lacks %q", s)
				}
			}
			for _, s := range c.listNot {
				if strings.Contains(body, s) {
					t.Errorf("job list shows %q", s)
				}
			}
			// Asking for another account in the query changes nothing.
			if _, body := b.get("/jobs?account=chem"); c.user != "tally-t-admin" && strings.Contains(body, "HYPERLINK") {
				t.Error("account filter escaped the scope")
			}
			if resp, body := b.get("/"); resp.StatusCode != 200 || !strings.Contains(body, "<svg") {
				t.Errorf("dashboard: %d", resp.StatusCode)
			}
		})
	}
}

func TestJobsCSVNeutralisesFormulas(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-admin", "tally-admin-pw", "/")
	resp, body := b.get("/jobs.csv?sort=job&dir=asc")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not RFC 4180: %v", err)
	}
	if len(recs) != 4 || recs[0][1] != "job_id" {
		t.Fatalf("rows %d", len(recs))
	}
	name := recs[3][4]
	if !strings.HasPrefix(name, "'=HYPERLINK") || !strings.Contains(name, "\n") || !strings.Contains(name, `"quoted"`) {
		t.Errorf("name cell %q", name)
	}
	if recs[1][18] != "0.140000" {
		t.Errorf("total %q, want exact 0.140000", recs[1][18])
	}
}

func TestEstimatorAndRateCardAdmin(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	_, body := b.get("/estimate?partition=cpu&cpus=4&mem=16G&time=02:30:00&qos=normal")
	if !strings.Contains(body, "0.030000") || !strings.Contains(body, "standard v2") {
		t.Errorf("estimate page lacks the lines")
	}
	if _, body := b.get("/estimate?partition=cpu&cpus=4&time=soon"); !strings.Contains(body, "Slurm time") {
		t.Error("bad time not explained")
	}
	if resp, _ := b.get("/admin/rates"); resp.StatusCode != 403 {
		t.Errorf("researcher sees rate admin: %d", resp.StatusCode)
	}

	a := newBrowser(t, e)
	a.login("tally-t-admin", "tally-admin-pw", "/")
	resp, body := a.get("/admin/rates")
	if resp.StatusCode != 200 || !strings.Contains(body, "in force") || !strings.Contains(body, "version: 3") {
		t.Fatalf("rates page: %d", resp.StatusCode)
	}
	bad := "name: standard\ncurrency: USD\nversions:\n  - version: 3\n    effective_from: 2030-01-01T00:00:00Z\n    partitions:\n      cpu: {cpu: \"-1\"}\n"
	resp, body = a.post("/admin/rates", map[string][]string{"spec": {bad}})
	if resp.StatusCode != 422 || !strings.Contains(body, "negative price") {
		t.Fatalf("invalid card: %d", resp.StatusCode)
	}
	good := strings.Replace(bad, `"-1"`, `"0.04"`, 1)
	resp, body = a.post("/admin/rates", map[string][]string{"spec": {good}, "action": {"whatif"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "What if") || !strings.Contains(body, "Nothing has been saved") && !strings.Contains(body, "No jobs ended") {
		t.Fatalf("what-if: %d", resp.StatusCode)
	}
	if resp, _ = a.post("/admin/rates", map[string][]string{"spec": {good}}); resp.StatusCode != 303 {
		t.Fatalf("valid card: %d", resp.StatusCode)
	}
	if _, body = a.get("/admin/rates"); !strings.Contains(body, "Added standard version 3") {
		t.Error("no confirmation")
	}
	var n int
	e.srv.pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_events WHERE action = 'rate_card_added'`).Scan(&n)
	if n != 1 {
		t.Errorf("admin audit has %d rate card events", n)
	}
	// Each version reads as a table, and two versions side by side mark
	// what changed: the cpu price of 2 and 3.
	var v2, v3 int64
	e.srv.pool.QueryRow(context.Background(), `SELECT id FROM rate_cards WHERE name = 'standard' AND version = 2`).Scan(&v2)
	e.srv.pool.QueryRow(context.Background(), `SELECT id FROM rate_cards WHERE name = 'standard' AND version = 3`).Scan(&v3)
	_, body = a.get("/admin/rates")
	if !strings.Contains(body, `data-testid="rate-table"`) || !strings.Contains(body, "<td>CPU per core-hour</td>") ||
		!strings.Contains(body, fmt.Sprintf(`href="/admin/rates?from=%d&amp;to=%d#compare"`, v2, v3)) {
		t.Error("rate cards page lacks the table of prices or the link to the changes")
	}
	resp, body = a.get(fmt.Sprintf("/admin/rates?from=%d&to=%d", v2, v3))
	if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="rate-diff"`) || !strings.Contains(body, "standard v2 → standard v3") {
		t.Fatalf("rate diff: %d", resp.StatusCode)
	}
	if !regexp.MustCompile(`<tr class="changed" data-changed="1"><td>Partition</td><td>cpu</td><td><strong>CPU per core-hour</strong></td><td class="num"><del>[0-9.]+</del></td><td class="num"><ins>0.04</ins></td>`).MatchString(body) {
		t.Error("the changed cpu price is not marked with its old and new value")
	}
	for _, bad := range []string{"?from=x&to=1", fmt.Sprintf("?from=%d&to=999999", v2)} {
		if resp, _ := a.get("/admin/rates" + bad); resp.StatusCode != 400 {
			t.Errorf("rate diff %s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestJobFiltersAndHostileInput(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-admin", "tally-admin-pw", "/")
	for path, want := range map[string][]string{
		"/jobs?account=chem":                  {"HYPERLINK"},
		"/jobs?q=101":                         {"alice&#39;s job"},
		"/jobs?q=coord":                       {"coord&#39;s job"},
		"/jobs?state=FAILED":                  {"No jobs match this filter"},
		"/jobs?q=%25":                         {"No jobs match this filter"}, // a literal %, not a wildcard
		"/jobs?from=2000-01-01&to=2000-01-02": {"No jobs match this filter"},
		// seedBilling rates every job: none is left without a charge.
		"/jobs?unrated=1": {`<input type="checkbox" name="unrated" value="1" checked>`, "No jobs match this filter"},
	} {
		resp, body := b.get(path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	// SQL in any filter is just text; a sort that is not a column, or a
	// cursor that cannot mark a row of the list (not a time where the list
	// is sorted by time), is refused with 400 and a message, never run.
	for path, want := range map[string]int{
		"/jobs?q=%27%3B%20DROP%20TABLE%20jobs%3B--":                             200,
		"/jobs?account=%27%20OR%201%3D1%20--&sort=end%3B%20DROP%20TABLE%20jobs": 400,
		"/jobs?sort=%28SELECT%201%29&dir=%3B":                                   400,
		"/jobs?after=v.1.%27%3B%20DROP%20TABLE%20jobs%3B--":                     400,
		"/jobs?before=v.1.2026-13-45&sort=end":                                  400,
		"/jobs?after=v.1.%27%3B%20DROP%20TABLE%20jobs%3B--&sort=user":           200,
		"/jobs.csv?partition=%27%3BDROP%20TABLE%20job_charges%3B--":             200,
	} {
		if resp, _ := b.get(path); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	var n int
	if err := e.srv.pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("jobs table after hostile input: %d %v", n, err)
	}
}
