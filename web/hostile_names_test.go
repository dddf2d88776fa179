package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

// Job names are whatever a researcher typed into sbatch -J. Markup in one
// is shown as text on every page, SQL in one is only ever a parameter,
// and searching for either finds the job without harming anything.
func TestHostileJobNames(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	ctx := context.Background()
	names := map[int64]string{
		201: `<script>alert("xss")</script>`,
		202: `'; DROP TABLE jobs; --`,
		203: `"><img src=x onerror=alert(1)>`,
		204: `Robert'); DELETE FROM job_charges WHERE ('1'='1`,
	}
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var jobs []slurm.Job
	for id, name := range names {
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: id, Submit: end.Add(-2 * time.Hour), Start: end.Add(-time.Hour), End: end,
			User: "tally-t-alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: name,
			ElapsedSeconds: 3600, Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}})
	}
	storeJobs(t, e, end.Add(-time.Hour), end, jobs...)
	if _, err := billingpg.New(e.srv.pool).RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	var jobsBefore, chargesBefore int
	e.srv.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_charges)`).Scan(&jobsBefore, &chargesBefore)

	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	pages := []string{"/", "/jobs", "/jobs?sort=name", "/jobs.csv"}
	for id, name := range names {
		var row int64
		e.srv.pool.QueryRow(ctx, `SELECT id FROM jobs WHERE job_id = $1`, id).Scan(&row)
		pages = append(pages, fmt.Sprintf("/jobs/%d", row), "/jobs?q="+url.QueryEscape(name), "/jobs?account="+url.QueryEscape(name))
	}
	for _, p := range pages {
		resp, body := b.get(p)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
			continue
		}
		if strings.HasSuffix(strings.SplitN(p, "?", 2)[0], ".csv") {
			continue
		}
		for _, raw := range []string{`<script>alert`, `<img src=x`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: %q reached the page unescaped", p, raw)
			}
		}
		if strings.Contains(p, "/jobs/") && !strings.Contains(body, "&lt;script&gt;") && !strings.Contains(body, "DROP TABLE") &&
			!strings.Contains(body, "&lt;img") && !strings.Contains(body, "DELETE FROM") {
			t.Errorf("%s: the job's name is not shown", p)
		}
	}
	// A search by the exact name finds that job, as text.
	for _, name := range names {
		_, body := b.get("/jobs?q=" + url.QueryEscape(name))
		if strings.Contains(body, "No jobs match this filter") {
			t.Errorf("searching for %q found nothing", name)
		}
	}
	var jobsAfter, chargesAfter int
	if err := e.srv.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_charges)`).Scan(&jobsAfter, &chargesAfter); err != nil {
		t.Fatal(err)
	}
	if jobsAfter != jobsBefore || chargesAfter != chargesBefore {
		t.Fatalf("jobs %d → %d, charges %d → %d after hostile names", jobsBefore, jobsAfter, chargesBefore, chargesAfter)
	}
}
