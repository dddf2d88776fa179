package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

func parseHTML(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// addManyJobs stores n more jobs of one user, ending a minute apart.
func addManyJobs(t *testing.T, e *testEnv, user, account string, first int64, n int) {
	t.Helper()
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	jobs := make([]slurm.Job, 0, n)
	for i := range n {
		e := end.Add(-time.Duration(i) * time.Minute)
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: first + int64(i), Submit: e.Add(-time.Hour), Start: e.Add(-30 * time.Minute), End: e,
			User: user, Account: account, Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: fmt.Sprintf("sweep-%d", i),
			ElapsedSeconds: 1800, Requested: slurm.TRES{CPU: 1, MemMiB: 100, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 100, Nodes: 1}})
	}
	storeJobs(t, e, end.Add(-48*time.Hour), end, jobs...)
}

// The job list pages by position: Next and Previous links walk all of a
// person's jobs without repeating or skipping any, keep the filter, and
// the totals cover every page.
func TestJobListPagesByPosition(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	addManyJobs(t, e, "tally-t-alice", "physics", 10_000, 120)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")

	seen := map[string]bool{}
	var pages []string
	next := "/jobs?q=sweep"
	for next != "" {
		resp, body := b.get(next)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", next, resp.StatusCode)
		}
		doc := parseHTML(t, body)
		if got := doc.Find(`[data-testid=jobs-totals]`).Text(); !strings.Contains(got, "All 120 matching jobs") {
			t.Fatalf("totals %q", got)
		}
		doc.Find(`[data-testid=job-row] td:nth-child(2)`).Each(func(_ int, s *goquery.Selection) {
			if seen[s.Text()] {
				t.Errorf("%s shown twice", s.Text())
			}
			seen[s.Text()] = true
		})
		pages = append(pages, next)
		href, _ := doc.Find(`[data-testid=page-next]`).Attr("href")
		if href != "" {
			u, _ := url.Parse(href)
			if u.Query().Get("q") != "sweep" {
				t.Fatalf("next link lost the filter: %s", href)
			}
		}
		next = href
	}
	if len(seen) != 120 || len(pages) != 3 {
		t.Fatalf("%d jobs over %d pages, want 120 over 3", len(seen), len(pages))
	}
	// From the last page, Previous leads to the second page's rows.
	_, last := b.get(pages[2])
	prev, _ := parseHTML(t, last).Find(`[data-testid=page-prev]`).Attr("href")
	_, back := b.get(prev)
	_, second := b.get(pages[1])
	rowsOf := func(body string) string {
		return parseHTML(t, body).Find(`[data-testid=job-row] td:nth-child(2)`).Text()
	}
	if rowsOf(back) != rowsOf(second) {
		t.Error("Previous from the last page is not the second page")
	}
	if _, ok := parseHTML(t, pages0(b, pages[0])).Find(`[data-testid=page-prev]`).Attr("href"); ok {
		t.Error("the first page offers a previous page")
	}
}

func pages0(b *browser, path string) string {
	_, body := b.get(path)
	return body
}

// A coordinator's account page has the per-user and per-partition
// breakdowns, a chart of the last periods, and the chart's data as a table.
func TestAccountPageForCoordinator(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	ctx := context.Background()
	store := billingpg.New(e.srv.pool)
	month := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()+1).Truncate(24 * time.Hour)
	if err := store.EnsureMonths(ctx, month.AddDate(0, -3, 0), month.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	b.login("tally-t-coord", pamUsers["tally-t-coord"], "/")
	resp, body := b.get("/accounts/physics")
	if resp.StatusCode != 200 {
		t.Fatalf("account page: %d", resp.StatusCode)
	}
	doc := parseHTML(t, body)
	users := doc.Find(`[data-testid=account-users] tbody tr`)
	if users.Length() != 2 || !strings.Contains(users.Text(), "tally-t-alice") || !strings.Contains(users.Text(), "tally-t-coord") {
		t.Errorf("by user: %q", users.Text())
	}
	if !strings.Contains(doc.Find(`.card h2:contains("By partition")`).Parent().Text(), "cpu") {
		t.Error("no partition breakdown")
	}
	if n := doc.Find(`[data-testid=account-trend] details tbody tr`).Length(); n != 4 {
		t.Errorf("trend over %d periods, want the 4 that have begun", n)
	}
	if doc.Find(`[data-testid=account-trend] svg rect.bar`).Length() == 0 {
		t.Error("no trend bars")
	}
	if doc.Find(`[data-testid=chart] details.chart-data tbody tr`).Length() == 0 {
		t.Error("chart has no data table")
	}
	if resp, _ := b.get("/accounts/chem"); resp.StatusCode != 404 {
		t.Errorf("another account's page: %d", resp.StatusCode)
	}
}

// Admins see who has which role and why; the page changes nothing.
func TestUsersAndRolesPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	e.srv.pool.Exec(context.Background(), `INSERT INTO slurm_associations (cluster, account, username) VALUES ('testbed', 'physics', 'tally-t-coord'), ('testbed', 'physics', 'tally-t-alice')`)
	b := newBrowser(t, e)
	b.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	_, body := b.get("/admin/users")
	doc := parseHTML(t, body)
	roles := map[string]string{}
	doc.Find(`[data-testid=users] tbody tr`).Each(func(_ int, s *goquery.Selection) {
		roles[s.Find("td").First().Text()] = s.Find("td").Eq(1).Text()
	})
	if !strings.Contains(roles["tally-t-coord"], "coordinator") || !strings.Contains(roles["tally-t-admin"], "admin") || strings.Contains(roles["tally-t-alice"], "coordinator") {
		t.Errorf("roles: %v", roles)
	}
	if _, body := b.get("/admin/users?q=coord"); strings.Contains(body, "tally-t-alice") {
		t.Error("search does not narrow the list")
	}
}
