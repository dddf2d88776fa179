package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
)

// journey drives one person's visit in headless Chromium. It records every
// script error, console error (CSP violations among them) and failed or
// refused request; the test fails on any that was not expected. Screenshots
// go to .tally/screenshots/<test>/ for a human to look at.
type journey struct {
	t        *testing.T
	ctx      context.Context
	base     string
	shots    string
	n        int
	downDir  string
	mu       sync.Mutex
	problems []string
	expected map[string]int // URL path → the status it is meant to answer
	done     map[string]string
}

func newJourney(t *testing.T, e *testEnv) *journey {
	ctx := testenv.Browser(t)
	j := &journey{t: t, ctx: ctx, base: e.http.URL, expected: map[string]int{}, done: map[string]string{}, downDir: t.TempDir()}
	j.shots = filepath.Join("..", ".tally", "screenshots", t.Name())
	os.RemoveAll(j.shots)
	if err := os.MkdirAll(j.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		j.mu.Lock()
		defer j.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			j.problems = append(j.problems, "script error: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				j.problems = append(j.problems, "console error")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError && !j.isExpected(ev.Entry.URL) {
				j.problems = append(j.problems, fmt.Sprintf("console %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled && ev.ErrorText != "net::ERR_ABORTED" { // downloads abort their navigation
				j.problems = append(j.problems, "request failed: "+ev.ErrorText)
			}
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 && !j.isExpected(ev.Response.URL) {
				j.problems = append(j.problems, fmt.Sprintf("%d from %s", ev.Response.Status, ev.Response.URL))
			}
		case *cdpbrowser.EventDownloadProgress:
			if ev.State == cdpbrowser.DownloadProgressStateCompleted {
				j.done[ev.GUID] = ev.GUID
			}
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), cdplog.Enable(),
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(j.downDir).WithEventsEnabled(true)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		for _, p := range j.problems {
			t.Error(p)
		}
	})
	return j
}

func (j *journey) isExpected(url string) bool {
	for path := range j.expected {
		if strings.HasPrefix(url, j.base+path) {
			return true
		}
	}
	return false
}

// run performs actions, failing the test on the first error.
func (j *journey) run(actions ...chromedp.Action) {
	j.t.Helper()
	if err := chromedp.Run(j.ctx, actions...); err != nil {
		j.shot("failed")
		j.t.Fatal(err)
	}
}

// follow clicks a link or button that loads a new page and waits for that
// page to show waitFor. The old page is marked first, so nothing on it can
// satisfy the wait. A click can race a page that is still settling
// (Chromium reports the node gone); it is retried while the page stays.
func (j *journey) follow(target, waitFor string) {
	j.t.Helper()
	var err error
	for range 3 {
		var ignored any
		err = chromedp.Run(j.ctx,
			chromedp.Evaluate(`document.body.setAttribute("data-stale", "1")`, &ignored),
			chromedp.Click(target, chromedp.NodeVisible),
			chromedp.WaitVisible(`body:not([data-stale]) `+waitFor))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "No node with given id") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	j.shot("failed")
	j.t.Fatal(err)
}

// shot saves a full-page screenshot, numbered in journey order.
func (j *journey) shot(name string) {
	var png []byte
	if err := chromedp.Run(j.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		j.t.Logf("screenshot %s: %v", name, err)
		return
	}
	j.n++
	os.WriteFile(filepath.Join(j.shots, fmt.Sprintf("%02d-%s.png", j.n, name)), png, 0o644)
}

// download clicks a link and returns the downloaded file's content.
func (j *journey) download(selector string) []byte {
	j.t.Helper()
	j.mu.Lock()
	before := len(j.done)
	j.mu.Unlock()
	j.run(chromedp.Click(selector, chromedp.NodeVisible))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		j.mu.Lock()
		var guid string
		if len(j.done) > before {
			for g := range j.done {
				if _, err := os.Stat(filepath.Join(j.downDir, g)); err == nil {
					if j.done[g] != "read" {
						guid = g
					}
				}
			}
		}
		if guid != "" {
			j.done[guid] = "read"
		}
		j.mu.Unlock()
		if guid != "" {
			b, err := os.ReadFile(filepath.Join(j.downDir, guid))
			if err != nil {
				j.t.Fatal(err)
			}
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	j.t.Fatalf("no download from %s", selector)
	return nil
}

func (j *journey) login(user string) {
	j.t.Helper()
	j.run(chromedp.Navigate(j.base + "/"))
	j.follow(`main a[href="/login"]`, `input[name=username]`)
	j.run(chromedp.SendKeys(`input[name=username]`, user),
		chromedp.SendKeys(`input[name=password]`, pamUsers[user]))
	j.follow(`button[type=submit]`, `.who .user`)
}

// seedJourneys adds last month's jobs to seedBilling's, with periods, and
// rates them; it returns last month's period name and the job rows.
func seedJourneys(t *testing.T, e *testEnv) (string, map[int64]int64) {
	t.Helper()
	rows := seedBilling(t, e)
	ctx := context.Background()
	pool := e.srv.pool
	month := monthStart(time.Now())
	prev := month.AddDate(0, -1, 0)
	var jobs []slurm.Job
	for i, who := range []struct{ user, account string }{{"tally-t-alice", "physics"}, {"tally-t-coord", "physics"}, {"tally-t-fin", "chem"}} {
		end := prev.AddDate(0, 0, 24).Add(time.Duration(i) * time.Hour)
		jobs = append(jobs, slurm.Job{Cluster: "testbed", JobID: int64(700 + i), Submit: end.Add(-5 * time.Hour), Start: end.Add(-4 * time.Hour), End: end,
			User: who.user, Account: who.account, Partition: "cpu", QOS: "normal", State: "COMPLETED", Name: "last-month-" + who.user,
			ElapsedSeconds: 4 * 3600, CPUTimeMicros: 3 * 4 * 3600 * 1_000_000,
			Requested: slurm.TRES{CPU: 4, MemMiB: 8192, Nodes: 1}, Allocated: slurm.TRES{CPU: 4, MemMiB: 8192, Nodes: 1}})
	}
	storeJobs(t, e, prev, month, jobs...)
	store := billingpg.New(pool)
	if err := store.EnsureMonths(ctx, prev, month.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	return prev.Format("2006-01"), rows
}

// Journey 1: a researcher signs in, sees the dashboard and its chart,
// filters the job list, opens a receipt, downloads the list as CSV, and
// cannot open someone else's job.
func TestJourneyResearcher(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, rows := seedJourneys(t, e)
	j := newJourney(t, e)
	foreign := fmt.Sprintf("/jobs/%d", rows[102]) // tally-t-coord's job
	j.expected[foreign] = 404

	j.login("tally-t-alice")
	var charges string
	j.run(chromedp.WaitVisible(`[data-testid=chart] svg rect.bar`), chromedp.Text(`[data-testid=month-charges] .value`, &charges))
	j.shot("dashboard")
	if !strings.Contains(charges, "USD") {
		t.Errorf("month's charges %q", charges)
	}

	var totals string
	j.follow(`.site-nav a[href="/jobs"]`, `input[name=q]`)
	j.run(chromedp.SendKeys(`input[name=q]`, "alice"))
	j.follow(`form.filters button[type=submit]`, `[data-testid=jobs-totals]`)
	j.run(chromedp.Text(`[data-testid=jobs-totals]`, &totals))
	j.shot("jobs-filtered")
	if !strings.Contains(totals, "All 2 matching jobs") {
		t.Errorf("filtered totals %q", totals)
	}

	var heading string
	j.follow(`[data-testid=job-row] td a`, `article.receipt`)
	j.run(chromedp.Text(`article.receipt h1`, &heading))
	j.shot("receipt")
	if !strings.Contains(heading, "Receipt for job 101") {
		t.Errorf("receipt heading %q", heading)
	}

	j.run(chromedp.NavigateBack(), chromedp.WaitVisible(`[data-testid=jobs-totals]`))
	csv := string(j.download(`a[href^="/jobs.csv"]`))
	if !strings.HasPrefix(csv, "cluster,job_id") || !strings.Contains(csv, "alice's job") || strings.Contains(csv, "coord's job") {
		t.Errorf("downloaded CSV:\n%s", csv)
	}

	var body string
	j.run(chromedp.Navigate(j.base+foreign), chromedp.WaitVisible(`main h1`), chromedp.Text(`main`, &body))
	j.shot("someone-elses-job")
	if strings.Contains(body, "coord's job") || strings.Contains(body, "Receipt for") {
		t.Errorf("someone else's job is shown: %q", body)
	}
}

// Journey 2: an admin drafts a new rate-card version, sees what it would
// change, saves it, previews last month's period, adds an adjustment and
// closes the period.
func TestJourneyAdmin(t *testing.T) {
	e := newAuthServer(t, "", nil)
	period, _ := seedJourneys(t, e)
	j := newJourney(t, e)
	j.login("tally-t-admin")

	var draft string
	j.run(chromedp.Navigate(j.base+"/admin/rates"), chromedp.WaitVisible(`textarea[name=spec]`), chromedp.Value(`textarea[name=spec]`, &draft))
	prev, _ := time.Parse("2006-01", period)
	effective := prev.AddDate(0, 0, 20).Format(time.RFC3339)
	edited, n := replaceLine(draft, "effective_from:", "effective_from: "+effective)
	edited, m := replaceLine(edited, `cpu: "0.03"`, `cpu: "0.05"`) // the cpu partition's core-hour
	if n != 1 || m != 1 {
		t.Fatalf("draft not as expected (%d, %d):\n%s", n, m, draft)
	}
	var whatIf string
	j.run(chromedp.SetValue(`textarea[name=spec]`, edited))
	j.follow(`button[value=whatif]`, `main`)
	j.run(chromedp.Text(`main`, &whatIf))
	j.shot("what-if")
	if !strings.Contains(whatIf, "physics") || !strings.Contains(whatIf, "Nothing has been saved") {
		t.Errorf("what-if: %q", whatIf)
	}
	var flash string
	j.follow(`button[value=save]`, `.flash`)
	j.run(chromedp.Text(`.flash`, &flash))
	j.shot("rate-card-saved")
	if !strings.Contains(flash, "Added standard version 3") {
		t.Errorf("after saving: %q", flash)
	}

	j.run(chromedp.Navigate(j.base+"/periods/"+period), chromedp.WaitVisible(`[data-testid=add-adjustment]`))
	j.shot("period-preview")
	j.follow(`[data-testid=add-adjustment]`, `input[name=amount]`)
	j.run(chromedp.SetValue(`select[name=account]`, "physics", chromedp.ByQuery), // a choice, not free text
		chromedp.SendKeys(`input[name=amount]`, "-5.00"),
		chromedp.SendKeys(`input[name=reason]`, "cluster outage credit"))
	j.follow(`form[action$="/adjustments"] button[type=submit]`, `.flash`)
	j.run(chromedp.Text(`.flash`, &flash))
	j.shot("adjustment-added")
	if !strings.Contains(strings.ToLower(flash), "adjustment") {
		t.Errorf("after the adjustment: %q", flash)
	}
	// The period was never ingested as a whole here, so its anomalies
	// need acknowledging before the close.
	j.run(chromedp.Navigate(j.base+"/periods/"+period), chromedp.WaitVisible(`form[action$="/close"]`))
	var acks []string
	j.run(chromedp.Evaluate(`Array.from(document.querySelectorAll('input[name=ack]')).map(e => e.name)`, &acks))
	if len(acks) > 0 {
		j.run(chromedp.Click(`input[name=ack]`))
	}
	var closed string
	j.follow(`form[action$="/close"] button[type=submit]`, `[data-testid=period-closed]`)
	j.run(chromedp.Text(`main`, &closed))
	j.shot("period-closed")
	if !strings.Contains(closed, "These statements are final") || !strings.Contains(closed, "cluster outage credit") {
		t.Errorf("after the close: %q", closed)
	}
}

// Journey 3: finance downloads a closed period's account summary CSV and a
// statement PDF.
func TestJourneyFinance(t *testing.T) {
	e := newAuthServer(t, "", nil)
	period, _ := seedJourneys(t, e)
	if _, err := billingpg.New(e.srv.pool).ClosePeriod(context.Background(), period, "test", billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	j := newJourney(t, e)
	j.login("tally-t-fin")
	var history string
	j.run(chromedp.Navigate(j.base+"/finance"), chromedp.WaitVisible(`[data-testid=account-history]`),
		chromedp.Text(`[data-testid=account-history]`, &history))
	j.shot("finance")
	if !strings.Contains(history, period) || !strings.Contains(history, "physics") || !strings.Contains(history, "chem") {
		t.Errorf("accounts across periods: %q", history)
	}
	j.follow(fmt.Sprintf(`main a[href="/periods/%s"]`, period), `a[href$="/accounts.csv"]`)
	j.shot("closed-period")
	csv := string(j.download(`a[href$="/accounts.csv"]`))
	if !strings.Contains(csv, "physics") || !strings.Contains(csv, "chem") || !strings.Contains(csv, period) {
		t.Errorf("account summary CSV:\n%s", csv)
	}
	pdf := j.download(`a[href*="/statement.pdf?account=physics"]`)
	if !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Errorf("statement is not a PDF: %.40q", pdf)
	}
}

// replaceLine replaces each line that starts (after indentation) with
// prefix by repl, keeping the indentation, and counts them.
func replaceLine(text, prefix, repl string) (string, int) {
	lines := strings.Split(text, "\n")
	n := 0
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(trimmed, prefix) {
			lines[i] = l[:len(l)-len(trimmed)] + repl
			n++
		}
	}
	return strings.Join(lines, "\n"), n
}
