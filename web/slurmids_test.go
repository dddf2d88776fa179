package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// seedSlurmIDs stores, beside seedBilling's jobs (seeded first), alice's array task
// 55387_3 (raw id 55390) and her job 200 requeued once (two records, one
// id). It returns the row ids of job 200's attempts, older first.
func seedSlurmIDs(t *testing.T, e *testEnv) (older, newer int64) {
	t.Helper()
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	task := int64(3)
	mk := func(id int64, submit time.Time, state string) slurm.Job {
		return slurm.Job{Cluster: "testbed", JobID: id, Submit: submit, Start: submit.Add(time.Minute), End: submit.Add(31 * time.Minute),
			User: "tally-t-alice", Account: "physics", Partition: "cpu", QOS: "normal", State: state, Name: fmt.Sprintf("job %d %s", id, state),
			ElapsedSeconds: 1800, Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}}
	}
	arr := mk(55390, end.Add(-2*time.Hour), "COMPLETED")
	arr.ArrayJobID, arr.ArrayTaskID, arr.Name = 55387, &task, "array task three"
	storeJobs(t, e, end.Add(-3*time.Hour), end, arr, mk(200, end.Add(-3*time.Hour), "REQUEUED"), mk(200, end.Add(-2*time.Hour), "COMPLETED"))
	r := e.srv.pool.QueryRow(context.Background(), `SELECT min(id), max(id) FROM jobs WHERE job_id = 200`)
	if err := r.Scan(&older, &newer); err != nil {
		t.Fatal(err)
	}
	return older, newer
}

// A receipt has an address by cluster and Slurm's id, answered exactly as
// the one by Tally's row id: the viewer's scope, and 404 for anything else.
func TestReceiptBySlurmID(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	older, _ := seedSlurmIDs(t, e)
	cases := []struct {
		user, path string
		status     int
		has, not   []string
	}{
		{"tally-t-alice", "/jobs/testbed/55387_3", 200, []string{"Receipt for job 55387_3", "array task three", `href="/jobs/testbed/55387_3/receipt.pdf"`}, []string{"same-slurm-id"}},
		{"tally-t-alice", "/jobs/testbed/55390", 200, []string{"Receipt for job 55387_3", `href="/jobs/testbed/55390/receipt.pdf"`}, nil},
		// A requeued job: the attempt submitted last, with the other linked.
		{"tally-t-alice", "/jobs/testbed/200", 200, []string{"job 200 COMPLETED", "same-slurm-id", "2 jobs", fmt.Sprintf(`href="/jobs/%d"`, older), "REQUEUED"},
			[]string{"job 200 REQUEUED"}},
		{"tally-t-alice", fmt.Sprintf("/jobs/%d", older), 200, []string{"job 200 REQUEUED", fmt.Sprintf(`href="/jobs/%d/receipt.pdf"`, older)}, nil},
		{"tally-t-alice", "/jobs/testbed/101", 200, []string{"alice&#39;s job"}, nil},
		{"tally-t-alice", "/jobs/testbed/103", 404, nil, []string{"HYPERLINK"}},
		{"tally-t-alice", "/jobs/testbed/103/receipt.pdf", 404, nil, []string{"HYPERLINK"}},
		{"tally-t-alice", "/jobs/elsewhere/55387_3", 404, nil, []string{"array task three"}},
		{"tally-t-alice", "/jobs/testbed/55387_4", 404, nil, nil},
		{"tally-t-alice", "/jobs/testbed/55387_[1-3]", 404, nil, nil},
		{"tally-t-alice", "/jobs/testbed/relax", 404, nil, nil},
		{"tally-t-coord", "/jobs/testbed/55387_3", 200, []string{"array task three"}, nil}, // coordinates physics
		{"tally-t-coord", "/jobs/testbed/103", 404, nil, []string{"HYPERLINK"}},
		{"tally-t-admin", "/jobs/testbed/103", 200, []string{"HYPERLINK"}, nil},
		// The routes beside it keep theirs.
		{"tally-t-alice", "/jobs/running", 200, []string{"Running and waiting now"}, nil},
	}
	browsers := map[string]*browser{}
	for _, c := range cases {
		b := browsers[c.user]
		if b == nil {
			b = newBrowser(t, e)
			b.login(c.user, pamUsers[c.user], "/")
			browsers[c.user] = b
		}
		resp, body := b.get(c.path)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.user, c.path, resp.StatusCode, c.status)
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s %s lacks %q", c.user, c.path, s)
			}
		}
		for _, s := range c.not {
			if strings.Contains(body, s) {
				t.Errorf("%s %s shows %q", c.user, c.path, s)
			}
		}
	}
	b := browsers["tally-t-alice"]
	if resp, pdf := b.get("/jobs/testbed/55387_3/receipt.pdf"); resp.StatusCode != 200 || !strings.HasPrefix(pdf, "%PDF-") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "55387_3") {
		t.Errorf("receipt pdf by Slurm id: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	// The job list links receipts by Slurm's id.
	for path, link := range map[string]string{"/jobs?q=55387_3": `href="/jobs/testbed/55387_3"`, "/jobs?q=101": `href="/jobs/testbed/101"`} {
		if _, body := b.get(path); !strings.Contains(body, link) {
			t.Errorf("%s does not link %s", path, link)
		}
	}
}

// An adjustment names its job as Slurm does, array tasks too, and its
// account is chosen from a list.
func TestAdjustmentBySlurmID(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)
	seedSlurmIDs(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	_, page := b.get("/periods/" + period + "/adjustments")
	for _, s := range []string{`<select name="account" required>`, `<option value="physics">physics</option>`, `<option value="chem">chem</option>`} {
		if !strings.Contains(page, s) {
			t.Errorf("adjustment form lacks %s", s)
		}
	}
	cases := []struct {
		account, job string
		status       int
		says         string
	}{
		{"physics", "55387_3", 303, ""},
		{"physics", " 200 ", 303, ""}, // the attempt submitted last
		{"physics", "55390", 303, ""}, // the array task's own raw id
		{"physics", "55387_[1-3]", 422, "give Slurm&#39;s job id"},
		{"physics", "55387_9", 422, "job 55387_9 is not a job of account physics"},
		{"chem", "55387_3", 422, "job 55387_3 is not a job of account chem"},
	}
	for _, c := range cases {
		resp, body := b.post("/periods/"+period+"/adjustments", map[string][]string{"account": {c.account}, "job_id": {c.job},
			"amount": {"-1.00"}, "reason": {"slow node"}})
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("job %q of %s: %d, want %d saying %q", c.job, c.account, resp.StatusCode, c.status, c.says)
		}
		if c.status == 422 && !strings.Contains(body, `<option value="`+c.account+`" selected>`) {
			t.Errorf("job %q: the form forgot the account chosen", c.job)
		}
	}
	_, page = b.get("/periods/" + period)
	for _, s := range []string{"<td>55387_3</td>", "<td>200</td>"} {
		if strings.Count(page, s) == 0 {
			t.Errorf("the period's adjustments do not show job %s", s)
		}
	}
	if n := strings.Count(page, "<td>55387_3</td>"); n != 2 {
		t.Errorf("adjustments naming 55387_3 (typed as such and as 55390): %d, want 2", n)
	}
}

// The job list sorts on the server, numbers as numbers, by links in its
// headers; an order or a date it cannot read is refused beside its field.
func TestJobListSortsOnTheServer(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	end := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	var jobs []slurm.Job
	for i, sec := range []int64{9, 100, 10} { // as text 10 < 100 < 9
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: int64(301 + i), Submit: end.Add(-time.Hour), Start: end.Add(-time.Duration(sec) * time.Second),
			End: end, User: "tally-t-alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: fmt.Sprintf("short %d", sec),
			ElapsedSeconds: sec, Requested: slurm.TRES{CPU: 1, MemMiB: 100, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 100, Nodes: 1}})
	}
	storeJobs(t, e, end.Add(-time.Hour), end, jobs...)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")

	order := func(body string, names ...string) []int {
		var at []int
		for _, n := range names {
			at = append(at, strings.Index(body, n))
		}
		return at
	}
	resp, body := b.get("/jobs?q=short&sort=elapsed&dir=asc")
	if resp.StatusCode != 200 {
		t.Fatalf("sorted list: %d", resp.StatusCode)
	}
	if at := order(body, "short 9", "short 10", "short 100"); !(at[0] >= 0 && at[0] < at[1] && at[1] < at[2]) {
		t.Errorf("elapsed ascending is not numeric: positions %v", at)
	}
	for _, s := range []string{
		`<th scope="col" role="columnheader" class="num" aria-sort="ascending"><a class="sort" href="/jobs?dir=desc&amp;q=short&amp;sort=elapsed">Elapsed</a></th>`,
		`<th scope="col" role="columnheader"><a class="sort" href="/jobs?dir=desc&amp;q=short&amp;sort=partition">Partition</a></th>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("job list headers lack %s\n%s", s, body)
		}
	}
	if strings.Contains(body, "data-sortable") {
		t.Error("the paged job list is sorted in the browser too, over one page")
	}
	_, csvBody := b.get("/jobs.csv?q=short&sort=elapsed&dir=desc")
	if at := order(csvBody, "short 100", "short 10,", "short 9,"); !(at[0] >= 0 && at[0] < at[1] && at[1] < at[2]) {
		t.Errorf("the CSV is not in the list's order: positions %v\n%s", at, csvBody)
	}
	// A short, complete table keeps sorting in the browser.
	if _, home := b.get("/"); !strings.Contains(home, `<table class="job-cards" role="table" data-sortable>`) {
		t.Error("the dashboard's recent jobs are no longer sortable in place")
	}

	for _, c := range []struct {
		path, testid, says string
	}{
		{"/jobs?from=2026-13-45", "from-error", `The &#34;from&#34; date must be a day such as 2026-03-31; &#34;2026-13-45&#34; is not one.`},
		{"/jobs?to=yesterday&q=short", "to-error", `&#34;yesterday&#34; is not one`},
		{"/jobs?sort=colour", "sort-error", `cannot be sorted by &#34;colour&#34;: sort by one of job, name, user`},
		{"/jobs?sort=cost&dir=up", "sort-error", `neither asc nor desc`},
	} {
		resp, body := b.get(c.path)
		if resp.StatusCode != 400 || !strings.Contains(body, `data-testid="`+c.testid+`"`) || !strings.Contains(body, c.says) ||
			strings.Contains(body, "short 9") {
			t.Errorf("%s: %d, want 400 saying %q beside the field\n%.2000s", c.path, resp.StatusCode, c.says, body)
		}
	}
	if _, body := b.get("/jobs?from=2026-13-45"); !strings.Contains(body, `aria-invalid="true" aria-describedby="from-error"`) ||
		!strings.Contains(body, `value="2026-13-45"`) {
		t.Error("the bad date is not marked on its field, or not kept to correct")
	}
	for _, p := range []string{"/jobs.csv?sort=colour"} {
		if resp, _ := b.get(p); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", p, resp.StatusCode)
		}
	}
}
