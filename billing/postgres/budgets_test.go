package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
)

// A money budget's charged amount is the sum of its periods' statements,
// as they show it; accruing is the running jobs' cost so far; overlapping
// budgets and off-period ranges are refused.
func TestBudgetBalanceAgreesWithStatements(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"), // 0.40
		mk(2, "bob", "physics", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"),      // 0.028125
		mk(3, "alice", "physics", "cpu", "normal", 1, 1024, "2026-11-02T10:00:00Z", "2026-11-02T12:00:00Z"),    // 0.07
		mk(4, "carol", "chem", "cpu", "normal", 8, 1024, "2026-11-02T10:00:00Z", "2026-11-02T12:00:00Z"),
	)
	pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ('2026-10', '2026-10-01', '2026-11-01'), ('2026-11', '2026-11-01', '2026-12-01'), ('2026-12', '2026-12-01', '2027-01-01')`)
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	year := func(unit billing.BudgetUnit, amount int64, user string) billing.Budget {
		return billing.Budget{Account: "physics", User: user, Unit: unit, Amount: amount, Starts: at("2026-10-01T00:00:00Z"), Ends: at("2027-01-01T00:00:00Z"), UpdatedBy: "test"}
	}
	money, _, err := s.SetBudget(ctx, year(billing.UnitMoney, 1_000_000, ""))
	if err != nil {
		t.Fatal(err)
	}
	if money.Currency != "USD" || len(money.Thresholds) != 3 {
		t.Fatalf("defaults not applied: %+v", money)
	}
	cores, _, err := s.SetBudget(ctx, year(billing.UnitCoreHours, 100*3600, ""))
	if err != nil {
		t.Fatal(err)
	}
	capped, _, err := s.SetBudget(ctx, year(billing.UnitMoney, 100_000, "alice"))
	if err != nil {
		t.Fatal(err)
	}

	// The statements of October and November for physics, as shown.
	var want billing.Micros
	for _, name := range []string{"2026-10", "2026-11"} {
		ps, err := s.Statements(ctx, name, []string{"physics"}, billing.HalfUp)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range ps.Statements {
			want += st.Total
		}
	}
	now := at("2026-11-20T12:00:00Z")
	running := []billing.RunningJob{
		{Cluster: "testbed", JobID: 9, User: "alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "RUNNING",
			Start: now.Add(-2 * time.Hour), CPUs: 1, MemMiB: 1024, Nodes: 1},
		{Cluster: "testbed", JobID: 10, User: "bob", Account: "physics", Partition: "cpu", QOS: "normal", State: "PENDING", CPUs: 64},
	}
	bals, err := s.Balances(ctx, []billing.Budget{money, cores, capped}, running, now, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	if got := billing.Micros(bals[0].Charged); got != want || want == 0 {
		t.Errorf("money budget charged %s, statements total %s", got, want)
	}
	if bals[0].Accruing != 70000 { // 2 h of 1 CPU and 1 GiB: as job 3 cost
		t.Errorf("accruing %d, want 70000 (the running job; the pending one accrues nothing)", bals[0].Accruing)
	}
	if rem := bals[0].Remaining(); rem != 1_000_000-int64(want)-70000 {
		t.Errorf("remaining %d", rem)
	}
	// Core-seconds: 4 CPUs × 2.5 h + 1 × 1.25 h + 1 × 2 h, and 1 × 2 h running.
	if bals[1].Charged != 4*9000+4500+7200 || bals[1].Accruing != 7200 {
		t.Errorf("core-hours budget: charged %d accruing %d", bals[1].Charged, bals[1].Accruing)
	}
	// Alice's cap: her person statements only.
	var alice billing.Micros
	for _, name := range []string{"2026-10", "2026-11"} {
		us, err := s.UserStatement(ctx, name, "alice", []string{"physics"}, billing.HalfUp)
		if err != nil {
			t.Fatal(err)
		}
		alice += us.Total
	}
	if billing.Micros(bals[2].Charged) != alice {
		t.Errorf("alice's cap charged %d, her statements %s", bals[2].Charged, alice)
	}

	// Who sees which: members see the account's budgets and their own cap.
	for _, c := range []struct {
		sc   Scope
		want int
	}{
		{Scope{All: true}, 3},
		{Scope{User: "alice"}, 3},
		{Scope{User: "bob"}, 2},
		{Scope{User: "carol"}, 0},
		{Scope{User: "dave", Accounts: []string{"physics"}}, 3},
	} {
		got, err := s.VisibleBudgets(ctx, c.sc, "")
		if err != nil || len(got) != c.want {
			t.Errorf("%+v sees %d budgets (%v), want %d", c.sc, len(got), err, c.want)
		}
	}

	// Refusals.
	if _, _, err := s.SetBudget(ctx, year(billing.UnitMoney, 5, "")); !isKind(err, billing.KindConflict) {
		t.Errorf("an overlapping money budget: %v", err)
	}
	bad := year(billing.UnitMoney, 5, "")
	bad.Starts = at("2027-01-15T00:00:00Z")
	bad.Ends = at("2027-03-01T00:00:00Z")
	if _, _, err := s.SetBudget(ctx, bad); !isKind(err, billing.KindInvalid) {
		t.Errorf("a range starting mid-month: %v", err)
	}
	eur := year(billing.UnitMoney, 5, "bob")
	eur.Currency = "EUR"
	if _, _, err := s.SetBudget(ctx, eur); !isKind(err, billing.KindInvalid) {
		t.Errorf("a budget in another currency: %v", err)
	}
	// Changing a budget returns what it was.
	money.Amount = 2_000_000
	if _, old, err := s.SetBudget(ctx, money); err != nil || old == nil || old.Amount != 1_000_000 {
		t.Errorf("change: old %+v, %v", old, err)
	}
}

func isKind(err error, kind string) bool {
	var be *billing.Error
	return errors.As(err, &be) && be.Kind == kind
}

// Slurm's own name of an array task (55387_3) finds that task.
func TestJobSearchBySlurmArrayName(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	var jobs []slurm.Job
	for task := int64(1); task <= 3; task++ {
		j := mk(55387+task, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-10T09:00:00Z", "2026-10-10T10:00:00Z")
		j.ArrayJobID, j.ArrayTaskID = 55387, &task
		jobs = append(jobs, j)
	}
	addJobs(t, pool, jobs...)
	for q, want := range map[string]int{"55387_3": 1, "55387": 3, "55387_9": 0, "55387_": 0} {
		rows, err := s.Jobs(context.Background(), Scope{All: true}, JobFilter{Search: q, Limit: 10})
		if err != nil || len(rows) != want {
			t.Errorf("search %q: %d jobs (%v), want %d", q, len(rows), err, want)
		}
		if q == "55387_3" && len(rows) == 1 && (rows[0].ArrayTaskID == nil || *rows[0].ArrayTaskID != 3) {
			t.Errorf("search %q found task %v", q, rows[0].ArrayTaskID)
		}
	}
}

// Under split attribution a running job's part in an ended period is
// charged already: a budget counts it there, and as accruing only what
// it has run since.
func TestBudgetDoesNotCountASplitChargeTwice(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := thisMonth.AddDate(0, -1, 0)
	start := thisMonth.Add(-10 * time.Hour)
	running := mk(20, "alice", "physics", "cpu", "normal", 4, 4096, start.Format(time.RFC3339), start.Format(time.RFC3339))
	running.End, running.State, running.ElapsedSeconds = time.Time{}, "RUNNING", 0
	addJobs(t, pool, running)
	s.EnsureMonths(ctx, lastMonth, thisMonth.AddDate(0, 1, 0))
	if _, err := s.RateOpen(ctx, RateOptions{Attribution: "split", Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	b, _, err := s.SetBudget(ctx, billing.Budget{Account: "physics", Unit: billing.UnitCoreHours, Amount: 1000 * 3600,
		Starts: lastMonth, Ends: thisMonth.AddDate(0, 1, 0), UpdatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	live := []billing.RunningJob{{Cluster: "testbed", JobID: 20, User: "alice", Account: "physics", Partition: "cpu", QOS: "normal",
		State: "RUNNING", Start: start, CPUs: 4, MemMiB: 4096, Nodes: 1}}
	bals, err := s.Balances(ctx, []billing.Budget{b}, live, now, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	// 4 CPUs × 10 h before the month began are charged; since then, accruing.
	since := int64(now.Sub(thisMonth) / time.Second)
	if bals[0].Charged != 4*10*3600 || bals[0].Accruing < 4*(since-5) || bals[0].Accruing > 4*(since+5) {
		t.Errorf("charged %d (want %d), accruing %d (want about %d)", bals[0].Charged, 4*10*3600, bals[0].Accruing, 4*since)
	}
}
