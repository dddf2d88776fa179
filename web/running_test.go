package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

// A job that has not ended (running, or a record whose end time is still
// to come) is in no statement: its receipt shows what it has cost so far
// at today's card, and the period's figures leave it out until it ends.
func TestRunningJobsShowCostSoFar(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows, period := seedWithPeriod(t, e)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	start := now.Add(-2 * time.Hour)
	running := slurm.Job{Cluster: "testbed", JobID: 201, Submit: start, Start: start, User: "tally-t-alice", Account: "physics",
		Partition: "cpu", QOS: "normal", State: "RUNNING", ElapsedSeconds: 7200, Requested: slurm.TRES{CPU: 4, MemMiB: 4096, Nodes: 1}}
	future := running
	future.JobID, future.State, future.End = 202, "COMPLETED", now.Add(3*time.Hour)
	storeJobs(t, e, start, now, running, future)
	if _, err := billingpg.New(e.srv.pool).RateOpen(ctx, billingpg.RateOptions{}); err != nil {
		t.Fatal(err)
	}
	var charged int
	e.srv.pool.QueryRow(ctx, `SELECT count(*) FROM job_charges c JOIN jobs j ON j.id = c.job_row WHERE j.job_id IN (201, 202)`).Scan(&charged)
	if charged != 0 {
		t.Fatalf("%d charges for jobs that have not ended", charged)
	}
	a := newBrowser(t, e)
	a.login("tally-t-alice", "tally-alice-pw", "/")
	var ids []int64
	e.srv.pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY job_id) FROM jobs WHERE job_id IN (201, 202)`).Scan(&ids)
	for _, id := range ids {
		resp, body := a.get(fmt.Sprintf("/jobs/%d", id))
		// 4 CPUs × 2 h × 0.03 (card v2) + 4 GiB × 2 h × 0.005 = 0.28 at least.
		if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="cost-so-far"`) || !strings.Contains(body, "so far") || !strings.Contains(body, "USD") {
			t.Errorf("receipt of a job not ended (row %d): %d\n%.2000s", id, resp.StatusCode, body)
		}
	}
	if _, body := a.get(fmt.Sprintf("/jobs/%d", rows[101])); strings.Contains(body, "cost-so-far") {
		t.Error("an ended job's receipt shows a cost so far")
	}
	_, dash := a.get("/")
	if !strings.Contains(dash, "Period "+period) || !strings.Contains(dash, `data-testid="month-jobs">1<`) {
		t.Errorf("dashboard counts jobs not ended:\n%.3000s", dash)
	}
}
