package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// Statements and receipts print people's and accounts' names in any
// script (issue 22, item 11: CJK printed as "????"): what pdftotext reads
// back is what was stored.
func TestPDFsPrintNamesInEveryScript(t *testing.T) {
	fonts, problems := pdfdoc.SystemFonts()
	if len(problems) > 0 {
		testenv.Missing(t, fmt.Sprintf("PDF fonts missing (Debian: fonts-dejavu-core fonts-wqy-microhei): %v", problems))
	}
	e := newAuthServer(t, "", func(c *Config, d *Deps) { d.PDFFonts = fonts })
	seedBilling(t, e)
	ctx := context.Background()
	pool := e.srv.pool
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	storeJobs(t, e, end.Add(-time.Hour), end, slurm.Job{Cluster: "testbed", JobID: 401, Submit: end.Add(-2 * time.Hour), Start: end.Add(-time.Hour), End: end,
		User: "tally-t-alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: "模拟 山田太郎 김민준", ElapsedSeconds: 3600,
		Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}})
	store := billingpg.New(pool)
	store.EnsureMonths(ctx, time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC), end.AddDate(0, 1, 0))
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	var row int64
	if err := pool.QueryRow(ctx, `SELECT id FROM jobs WHERE job_id = 401`).Scan(&row); err != nil {
		t.Fatal(err)
	}

	a := newBrowser(t, e)
	a.login("tally-t-admin", "tally-admin-pw", "/")
	display, pi := "Zoë Ångström Лаборатория 王小明", "Δημήτρης Дмитрий 山田太郎 김민준"
	if resp, _ := a.post("/admin/accounts/physics", map[string][]string{"display_name": {display}, "pi": {pi}, "cost_centre": {"CC-42"}, "active": {"1"}}); resp.StatusCode != 303 {
		t.Fatalf("editing the account: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/periods/" + end.Format("2006-01") + "/statement.pdf?account=physics", []string{"Account physics " + display, "PI: " + pi}},
		{fmt.Sprintf("/jobs/%d/receipt.pdf", row), []string{"模拟 山田太郎 김민준 · user tally-t-alice · account physics · testbed/cpu/normal · COMPLETED"}},
	} {
		resp, pdf := a.get(tc.path)
		if resp.StatusCode != 200 || !strings.HasPrefix(pdf, "%PDF-") {
			t.Fatalf("%s: %d", tc.path, resp.StatusCode)
		}
		text := testenv.PDFText(t, []byte(pdf))
		lines := map[string]bool{}
		for _, l := range strings.Split(text, "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		for _, w := range tc.want {
			if !lines[w] {
				t.Errorf("%s: no line %q in\n%s", tc.path, w, text)
			}
		}
		if strings.Contains(text, "?") {
			t.Errorf("%s: a character printed as '?':\n%s", tc.path, text)
		}
	}
}
