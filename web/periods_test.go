package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

func TestPeriodWorkflow(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	ctx := context.Background()
	pool := e.srv.pool
	// Two October jobs, in two accounts.
	var jobs []slurm.Job
	for i, acct := range []string{"physics", "chem"} {
		end := time.Date(2026, 10, 10, 12, 0, 0, 0, time.UTC)
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: int64(500 + i), Submit: end.Add(-2 * time.Hour), Start: end.Add(-2 * time.Hour), End: end,
			User: "tally-t-coord", Account: acct, Partition: "cpu", QOS: "normal", State: "COMPLETED", ElapsedSeconds: 7200,
			Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}})
	}
	storeJobs(t, e, time.Unix(0, 0), time.Unix(1, 0), jobs...)
	store := billingpg.New(pool)
	store.EnsureMonths(ctx, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Now().AddDate(0, 1, 0))
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}

	a := newBrowser(t, e)
	a.login("tally-t-admin", "tally-admin-pw", "/")
	if resp, body := a.get("/periods"); resp.StatusCode != 200 || !strings.Contains(body, "2026-10") {
		t.Fatalf("periods: %d", resp.StatusCode)
	}
	resp, body := a.post("/periods/2026-10/adjustments", map[string][]string{"account": {"physics"}, "amount": {"twelve"}, "reason": {"goodwill"}})
	if resp.StatusCode != 422 || !strings.Contains(body, "is not a number") || !strings.Contains(body, `value="goodwill"`) {
		t.Fatalf("bad adjustment: %d", resp.StatusCode)
	}
	// The adjustment form is its own page, form first; a wrong field is
	// marked beside it, every value kept.
	if _, body := a.get("/periods/2026-10"); !strings.Contains(body, `href="/periods/2026-10/adjustments"`) {
		t.Error("the period page does not link its adjustments page")
	}
	resp, body = a.get("/periods/2026-10/adjustments")
	if resp.StatusCode != 200 || strings.Index(body, `data-testid="adjustment-form"`) > strings.Index(body, "Adjustments in 2026-10") {
		t.Errorf("adjustments page: %d, or the form is not first", resp.StatusCode)
	}
	for _, c := range []struct {
		name  string
		form  map[string][]string
		field string // the input marked
		want  string
	}{
		{"amount", map[string][]string{"account": {"physics"}, "amount": {"twelve"}, "reason": {"goodwill"}}, "amount", "is not a number"},
		{"job id", map[string][]string{"account": {"physics"}, "job_id": {"x9"}, "amount": {"-1"}, "reason": {"goodwill"}}, "job_id", "such as 55387"},
		{"unknown account", map[string][]string{"account": {"nosuch"}, "amount": {"-1"}, "reason": {"goodwill"}}, "account", "unknown account"},
		{"no reason", map[string][]string{"account": {"physics"}, "amount": {"-1"}, "reason": {" "}}, "reason", "give a reason"},
		{"not this account's job", map[string][]string{"account": {"physics"}, "job_id": {"501"}, "amount": {"-1"}, "reason": {"goodwill"}}, "job_id", "is not a job of account physics"},
	} {
		resp, body := a.post("/periods/2026-10/adjustments", c.form)
		msg := `id="` + c.field + `-error" data-testid="error-` + c.field + `">`
		if resp.StatusCode != 422 || !strings.Contains(body, msg) || !strings.Contains(body, c.want) || !strings.Contains(body, `aria-describedby="`+c.field+`-error"`) {
			t.Errorf("%s: %d, message not beside the field", c.name, resp.StatusCode)
		}
		for _, v := range c.form["account"] {
			if !strings.Contains(body, `value="`+v+`"`) {
				t.Errorf("%s: the account typed was lost", c.name)
			}
		}
	}
	// A running period's close waits for its end, and says when.
	cur := time.Now().UTC().Format("2006-01")
	curPeriod, err := store.Period(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := a.get("/periods/" + cur); !strings.Contains(body, "closable after "+curPeriod.ClosableAt().UTC().Format("2006-01-02 15:04 UTC")) ||
		!strings.Contains(body, `<button type="button" disabled`) || strings.Contains(body, `action="/periods/`+cur+`/close"`) {
		t.Error("a running period's close is not shown disabled with the time it becomes closable")
	}
	// Looking changes nothing: no audit row, no preview snapshot.
	looked := func() (n int) {
		pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM admin_events) + (SELECT count(*) FROM period_previews)`).Scan(&n)
		return n
	}
	before := looked()
	a.get("/periods/2026-10")
	a.get("/periods/2026-10?account=physics")
	if after := looked(); after != before {
		t.Errorf("viewing a period wrote %d rows", after-before)
	}
	if resp, _ := a.post("/periods/2026-10/preview", nil); resp.StatusCode != 303 { // a preview, recorded on request
		t.Fatalf("record preview: %d", resp.StatusCode)
	}
	if resp, _ := a.post("/periods/2026-10/adjustments", map[string][]string{"account": {"physics"}, "amount": {"-0.02"}, "reason": {"goodwill"}}); resp.StatusCode != 303 ||
		resp.Header.Get("Location") != "/periods/2026-10/adjustments" {
		t.Fatalf("adjustment: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := a.get("/periods/2026-10/adjustments"); !strings.Contains(body, "Adjustment of -0.02") || !strings.Contains(body, "goodwill") {
		t.Error("the adjustments page does not list the new adjustment")
	}
	if _, body := a.get("/periods/2026-10"); !strings.Contains(body, "Since the last preview") || !strings.Contains(body, "-0.02") {
		t.Error("the change since the last preview is not shown")
	}
	a.post("/admin/accounts/physics", map[string][]string{"display_name": {"Physics Dept"}, "pi": {"Prof. Curie"}, "cost_centre": {"CC-42"}, "active": {"1"}})
	// October was never ingested here: the preview lists that, and the
	// close needs the anomalies acknowledged.
	if _, body := a.get("/periods/2026-10"); !strings.Contains(body, "ingest_gap") || !strings.Contains(body, "I have reviewed the anomalies") ||
		!strings.Contains(body, `<a href="/admin/ingest" data-testid="anomaly-link" data-kind="ingest_gap">`) {
		t.Error("preview does not list the ingest gap, linked to the ingest page")
	}
	a.post("/periods/2026-10/close", nil)
	if _, body := a.get("/periods/2026-10"); !strings.Contains(body, "anomalies: review them") || strings.Contains(body, "Closed 2026-10") {
		t.Fatal("closed without acknowledging anomalies")
	}
	if resp, _ := a.post("/periods/2026-10/close", map[string][]string{"ack": {"1"}}); resp.StatusCode != 303 {
		t.Fatalf("close: %d", resp.StatusCode)
	}
	_, body = a.get("/periods/2026-10")
	for _, want := range []string{"Closed 2026-10", "By user", "By partition", "By QOS", "tally-t-coord", "statement 2026-10-0001", "statement 2026-10-0002", "goodwill", "Prof. Curie", "SHA-256"} {
		if !strings.Contains(body, want) {
			t.Errorf("closed period page lacks %q", want)
		}
	}
	if strings.Contains(body, "Add a credit or debit") {
		t.Error("adjustment form shown on a closed period")
	}
	if _, body := a.get("/periods/2026-10/adjustments"); strings.Contains(body, "<form") && strings.Contains(body, "adjustment-form") {
		t.Error("adjustment form shown on a closed period's adjustments page")
	}
	a.post("/periods/2026-10/close", map[string][]string{"ack": {"1"}})
	if _, body = a.get("/periods/2026-10"); !strings.Contains(body, "already closed") {
		t.Error("second close not refused clearly")
	}
	a.post("/periods/"+cur+"/close", map[string][]string{"ack": {"1"}})
	if _, body = a.get("/periods/" + cur); !strings.Contains(body, "has not ended yet") {
		t.Error("closing a running period not refused")
	}
	_, csvBody := a.get("/periods/2026-10/accounts.csv")
	if !strings.Contains(csvBody, "Physics Dept,Prof. Curie,CC-42") || !strings.Contains(csvBody, "-0.02") {
		t.Errorf("accounts csv:\n%s", csvBody)
	}
	// A closed statement never changes: later edits of the account's
	// details apply to later periods only.
	a.post("/admin/accounts/physics", map[string][]string{"display_name": {"Physics Dept"}, "pi": {"Prof. Meitner"}, "cost_centre": {"CC-43"}, "active": {"1"}})
	if _, csvBody := a.get("/periods/2026-10/accounts.csv"); !strings.Contains(csvBody, "Prof. Curie,CC-42") || strings.Contains(csvBody, "Meitner") {
		t.Errorf("closed statement changed with the account's details:\n%s", csvBody)
	}
	if _, body := a.get("/periods/2026-10"); !strings.Contains(body, "Prof. Curie") || strings.Contains(body, "Meitner") {
		t.Error("closed period page shows the account's new details")
	}
	if _, pdf := a.get("/periods/2026-10/statement.pdf?account=physics"); !strings.Contains(pdf, "Prof. Curie") || strings.Contains(pdf, "Meitner") {
		t.Error("closed statement PDF shows the account's new details")
	}
	if _, body := a.get("/periods/" + time.Now().UTC().Format("2006-01") + "?account=physics"); strings.Contains(body, "Prof. Curie") {
		t.Error("an open period's preview prints details edited since")
	}

	resp, pdf := a.get("/periods/2026-10/statement.pdf?account=physics")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-1.4") ||
		!strings.Contains(pdf, "Statement 2026-10-0002") || !strings.Contains(pdf, "Prof. Curie") {
		t.Errorf("statement pdf: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	c := newBrowser(t, e)
	c.login("tally-t-coord", "tally-coord-pw", "/")
	if resp, _ := c.get("/periods/2026-10/statement.pdf?account=chem"); resp.StatusCode != 404 {
		t.Errorf("coordinator got another account's statement pdf: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/periods/2026-10/statement.pdf?account=physics"); resp.StatusCode != 200 {
		t.Errorf("coordinator's own statement pdf: %d", resp.StatusCode)
	}
	_, body = c.get("/periods/2026-10")
	if !strings.Contains(body, "Account physics") || strings.Contains(body, "Account chem") {
		t.Error("coordinator sees statements of accounts they do not coordinate")
	}
	if _, csvBody := c.get("/periods/2026-10/jobs.csv"); strings.Contains(csvBody, ",chem,") {
		t.Error("coordinator's job export includes chem")
	}
	if resp, _ := c.get("/periods/2026-10?account=chem"); resp.StatusCode != 404 {
		t.Errorf("coordinator narrowed to another account: %d", resp.StatusCode)
	}
	if _, body := a.get("/periods/2026-10?account=chem"); !strings.Contains(body, "Account chem") || strings.Contains(body, "Account physics") {
		t.Error("account filter does not narrow the statements")
	}
	if resp, _ := c.post("/periods/2026-10/close", nil); resp.StatusCode != 403 {
		t.Errorf("coordinator closing: %d", resp.StatusCode)
	}
	// Everything the admin did is on the audit page.
	_, body = a.get("/admin/audit")
	for _, want := range []string{"period_preview", "period_closed", "adjustment_added", "account_details_saved", "export", "login"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}

	// Per-user statements: one's own, and those an admin may see.
	if resp, body := c.get("/statements/2026-10/tally-t-coord"); resp.StatusCode != 200 || !strings.Contains(body, "chem") || !strings.Contains(body, "physics") {
		t.Errorf("own statement: %d", resp.StatusCode)
	}
	if resp, pdf := c.get("/statements/2026-10/tally-t-coord.pdf"); resp.StatusCode != 200 || !strings.HasPrefix(pdf, "%PDF-") {
		t.Errorf("own statement pdf: %d", resp.StatusCode)
	}
	if _, body := c.get("/statements"); !strings.Contains(body, "2026-10") {
		t.Error("statements list lacks the period")
	}

	r := newBrowser(t, e)
	r.login("tally-t-alice", "tally-alice-pw", "/")
	for _, p := range []string{"/statements/2026-10/tally-t-coord", "/statements/2026-10/tally-t-coord.pdf"} {
		if resp, body := r.get(p); resp.StatusCode != 404 || strings.Contains(body, "physics") {
			t.Errorf("researcher reads another's statement %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := r.get("/statements/2026-10/tally-t-alice"); resp.StatusCode != 200 {
		t.Errorf("own (empty) statement: %d", resp.StatusCode)
	}
	for _, p := range []string{"/periods", "/periods/2026-10", "/periods/2026-10/accounts.csv", "/admin/accounts"} {
		if resp, _ := r.get(p); resp.StatusCode != 403 {
			t.Errorf("researcher on %s: %d", p, resp.StatusCode)
		}
	}
}
