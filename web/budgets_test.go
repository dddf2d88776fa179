package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// An admin sets a budget on the form; the account page, the dashboards
// of its people and the finance export show the same balance, whose
// charged amount is the statement total; people of other accounts see
// nothing of it; the change is in the audit log.
func TestBudgetsPages(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	ctx := context.Background()
	// The month the seeded jobs (ended an hour ago) are charged in.
	month := time.Now().UTC().Add(-time.Hour).Format("2006-01")
	period := month
	start := monthStart(time.Now().Add(-time.Hour))
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3)`,
		period, start, start.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := billingpg.New(e.srv.pool).RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	admin := newBrowser(t, e)
	admin.login("tally-t-admin", "tally-admin-pw", "/")

	// A bad form keeps what was typed and says what is wrong.
	resp, body := admin.post("/admin/budgets", url.Values{"account": {"physics"}, "unit": {"money"}, "amount": {"ten"}, "starts": {month}, "ends": {month}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "amount") || !strings.Contains(body, `value="physics"`) {
		t.Fatalf("bad amount: %d\n%.500s", resp.StatusCode, body)
	}
	resp, _ = admin.post("/admin/budgets", url.Values{"account": {"physics"}, "unit": {"money"}, "amount": {"100.00"},
		"starts": {month}, "ends": {month}, "thresholds": {"50, 80, 100"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving a budget: %d", resp.StatusCode)
	}
	// The statement total for physics this period, as its page shows it.
	var statementTotal string
	_, body = admin.get("/periods/" + period + "?account=physics")
	if i := strings.Index(body, `data-testid="statement-total"`); i >= 0 {
		rest := body[i:]
		rest = rest[strings.Index(rest, ">")+1:]
		statementTotal = rest[:strings.Index(rest, "<")]
	}
	if statementTotal == "" {
		t.Fatalf("no statement total on the period page")
	}
	// An alert it raised and a hold Tally keeps show with it.
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO budget_alerts (budget_id, kind, threshold, budget_amount, account, subject, body, recipients)
			SELECT id, 'threshold', 80, amount, account, 's', 'b', '{coord@example.org}' FROM budgets;
		INSERT INTO budget_holds (budget_id, cluster, account, how) SELECT id, 'testbed', account, 'GrpSubmitJobs=0' FROM budgets`); err != nil {
		t.Fatal(err)
	}
	_, body = admin.get("/accounts/physics")
	if !strings.Contains(body, "80 % reached") || !strings.Contains(body, "email pending") || !strings.Contains(body, "Held in Slurm: GrpSubmitJobs=0 on testbed") {
		t.Errorf("the account page lacks the budget's alert or hold")
	}
	charged := between(body, `data-testid="budget-charged">`, "<")
	if charged != statementTotal {
		t.Errorf("budget charged %q, statement total %q", charged, statementTotal)
	}
	if remaining := between(body, `data-testid="budget-remaining">`, "<"); remaining == "" || !strings.Contains(body, "burn-chart") {
		t.Errorf("the account page lacks the remaining amount or the burn chart")
	}

	// alice works in physics and sees its budget; the finance person's
	// dashboard is not physics's, and the coordinator's is.
	for user, want := range map[string]bool{"tally-t-alice": true, "tally-t-coord": true, "tally-t-fin": false} {
		b := newBrowser(t, e)
		b.login(user, pamUsers[user], "/")
		_, body := b.get("/")
		if got := strings.Contains(body, `data-testid="budget"`); got != want {
			t.Errorf("%s's dashboard shows the physics budget: %v, want %v", user, got, want)
		}
		if want && between(body, `data-testid="budget-charged">`, "<") != statementTotal {
			t.Errorf("%s's dashboard disagrees with the statement", user)
		}
	}

	fin := newBrowser(t, e)
	fin.login("tally-t-fin", "tally-fin-pw", "/")
	resp, body = fin.get("/finance/budgets.csv")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("budgets CSV: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][1] != "physics" || recs[1][7] != "100.00" {
		t.Fatalf("budgets CSV: %v %v", recs, err)
	}
	if !strings.HasSuffix(statementTotal, " "+recs[1][4]) || !strings.HasPrefix(statementTotal, recs[1][8]) {
		t.Errorf("CSV charged %s %s, the statement %q", recs[1][8], recs[1][4], statementTotal)
	}
	var n int
	e.srv.pool.QueryRow(ctx, `SELECT count(*) FROM admin_events WHERE action = 'budget_set' AND detail LIKE '%physics money 100.00 USD%'`).Scan(&n)
	if n != 1 {
		t.Errorf("budget_set audit rows: %d", n)
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return strings.TrimSpace(s[:j])
	}
	return ""
}
