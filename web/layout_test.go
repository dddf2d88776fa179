package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/templates"
)

// The widths every page must fit: a phone held upright and a projector
// (or a laptop with the browser not quite full screen).
const phoneWidth, screenWidth = 390, 1400

// layoutSamples gives each GET page route with a path parameter (or one
// worth visiting in more than one state) the paths to visit, built from
// seedLayout's data. A GET page route added later fails
// TestBrowserEveryPageFits until it has a row here.
func layoutSamples(d layoutData) map[string][]string {
	return map[string][]string{
		"/":                               {"/no-such-page"},                           // the not-found page
		"GET /jobs":                       {"/jobs", "/jobs?account=" + d.longAccount}, // the second filtered: the form opens
		"GET /jobs/{id}":                  {fmt.Sprintf("/jobs/%d", d.receipt), fmt.Sprintf("/jobs/%d", d.foreignReceipt)},
		"GET /estimate":                   {"/estimate", "/estimate?partition=gpu&cpus=64&gpus=a100:8&mem=512G&time=72:00:00"},
		"GET /accounts/{account}":         {"/accounts/" + d.longAccount},
		"GET /statements/{period}/{user}": {"/statements/" + d.closed + "/tally-t-alice"},
		"GET /periods/{name}":             {"/periods/" + d.closed, "/periods/" + d.open},
		"GET /periods/{name}/adjustments": {"/periods/" + d.open + "/adjustments", "/periods/" + d.closed + "/adjustments"},
		"GET /jobs/{cluster}/{slurmid}":   {d.receiptBySlurmID},
		"GET /admin/rates":                {"/admin/rates", d.rateDiff},
	}
}

// notPages are GET routes that answer something other than an HTML page.
// /admin/ingest/live is a fragment the ingest page's script puts in place.
var notPages = regexp.MustCompile(`\.(csv|pdf|json)$|^/(metrics|healthz|readyz)$|^/api/|^/admin/ingest/live$`)

// layoutShots are the pages photographed for a human at both widths:
// each role's main pages.
func layoutShots() map[string]map[string]bool {
	return map[string]map[string]bool{
		"alice": {"GET /{$}": true, "GET /jobs": true, "GET /jobs/{id}": true, "GET /statements": true, "GET /statements/{period}/{user}": true},
		"coord": {"GET /{$}": true, "GET /accounts/{account}": true, "GET /periods/{name}": true},
		"fin":   {"GET /finance": true, "GET /periods/{name}": true},
		"admin": {"GET /{$}": true, "GET /periods/{name}": true, "GET /admin/rates": true, "GET /admin/budgets": true, "GET /admin/ingest": true,
			"GET /admin/accounts": true, "GET /admin/users": true, "GET /admin/audit": true},
	}
}

// layoutPath is a path to visit and the route it exercises.
type layoutPath struct{ pattern, path string }

type layoutData struct {
	closed, open     string // last month's period (closed) and this month's
	longAccount      string
	receipt          int64  // alice's big GPU job, rated in the open period
	foreignReceipt   int64  // chem's job: 404 for alice and the coordinator
	receiptBySlurmID string // the same receipt at /jobs/{cluster}/{slurmid}
	rateDiff         string // two rate card versions side by side
}

// A page "fits" when the page itself never scrolls sideways (wide tables
// scroll inside their own wrapper) and nothing sticks out of a card.
type layoutMeasure struct {
	ScrollWidth int64    `json:"scrollWidth"`
	InnerWidth  int64    `json:"innerWidth"`
	Widest      string   `json:"widest"`
	Cards       []string `json:"cards"`
	Scrolling   []string `json:"scrolling"` // tables that scroll in their wrapper
}

// measureLayout finds, for a page too wide, the element reaching furthest
// right (outermost first, so a wide table is named rather than its last
// cell), and every card with something visibly sticking out of it. An
// element inside a scrolling or clipping box within the card is not
// sticking out: that box is how a wide table is meant to fit.
const measureLayout = `(() => {
  const W = window.innerWidth;
  const name = el => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) s += '#' + e.id;
      for (const c of e.classList) s += '.' + c;
      const t = e.getAttribute('data-testid');
      if (t) s += '[data-testid=' + t + ']';
      parts.unshift(s);
    }
    return parts.join(' > ') + ' "' + (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40) + '"';
  };
  const clipped = (el, stop) => {
    for (let a = el.parentElement; a && a !== stop; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  // Closed details keep their content's boxes but show none of it.
  const shown = el => { const d = el.closest('details:not([open])'); return !d || el.closest('summary')?.parentElement === d; };
  const visible = r => r.width > 0 || r.height > 0;
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: W, widest: '', cards: [], scrolling: []};
  if (out.scrollWidth > W) {
    let right = W + 0.5;
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (visible(r) && r.right > right && shown(el) && !clipped(el, null)) { right = r.right; out.widest = name(el) + ' reaches ' + Math.round(r.right) + 'px'; }
    }
  }
  for (const card of document.querySelectorAll('.card')) {
    const c = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (!visible(r) || !shown(el) || clipped(el, card)) continue;
      if (r.right > c.right + 0.5 || r.left < c.left - 0.5) {
        out.cards.push(name(el) + ' sticks out of ' + name(card) + ' by ' + Math.round(Math.max(r.right - c.right, c.left - r.left)) + 'px');
        break;
      }
    }
  }
  out.scrolling = Array.from(document.querySelectorAll('.table-wrap')).filter(w => shown(w) && w.scrollWidth > w.clientWidth + 1).map(name);
  return out;
})()`

// Every page, as every role, fits a 390 px phone and a 1400 px screen
// without the page scrolling sideways, with realistic data (long account
// and job names, big amounts, many columns). 403 and 404 answers are pages
// too. Screenshots of the main pages go to .tally/screenshots/<test>/.
func TestBrowserEveryPageFits(t *testing.T) {
	e := newAuthServer(t, "", nil)
	d := seedLayout(t, e)
	samples := layoutSamples(d)

	var paths []layoutPath
	for _, p := range e.srv.patterns {
		method, route, ok := strings.Cut(p, " ")
		if !ok {
			method, route = "", p
		}
		if method != "GET" && method != "" || notPages.MatchString(route) {
			continue
		}
		route = strings.TrimSuffix(route, "{$}")
		got, ok := samples[p]
		if !ok && strings.Contains(route, "{") || !ok && method == "" {
			t.Errorf("page route %q has no sample path: add one to layoutSamples", p)
			continue
		}
		if !ok {
			got = []string{route}
		}
		for _, path := range got {
			paths = append(paths, layoutPath{p, path})
		}
	}
	if t.Failed() {
		return
	}

	shots := filepath.Join("..", ".tally", "screenshots", t.Name())
	os.RemoveAll(shots)
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"} {
		role := strings.TrimPrefix(user, "tally-t-")
		t.Run(role, func(t *testing.T) {
			t.Parallel() // four browsers: most of the time is waiting on the server and Chromium
			checkLayout(t, e.http.URL, user, paths, layoutShots()[role], shots)
		})
	}
}

// checkLayout signs user in and measures every path at every width, in a
// browser of its own (each role has the browser's time limit to itself).
func checkLayout(t *testing.T, base, user string, paths []layoutPath, shoot map[string]bool, shots string) {
	ctx := testenv.Browser(t)
	role := strings.TrimPrefix(user, "tally-t-")
	// The status of the last page loaded, to photograph only pages shown.
	var mu sync.Mutex
	status := 0
	chromedp.ListenTarget(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventResponseReceived); ok && ev.Type == network.ResourceTypeDocument {
			mu.Lock()
			status = int(ev.Response.Status)
			mu.Unlock()
		}
	})
	started := time.Now()
	err := chromedp.Run(ctx, network.Enable(), chromedp.EmulateViewport(screenWidth, 900),
		chromedp.Navigate(base+"/login"), chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, user), chromedp.SendKeys(`input[name=password]`, pamUsers[user]),
		chromedp.Submit(`input[name=password]`), chromedp.WaitVisible(`.who .user`))
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	shot := map[string]bool{} // one picture per route (its first sample)
	// One load per page, measured at each width: the viewport widens
	// without a reload, and media queries and scripts follow it (it loads
	// narrow, as on a phone, where scripts keep the most folded).
	for _, p := range paths {
		if err := chromedp.Run(ctx, chromedp.EmulateViewport(phoneWidth, 900), chromedp.Navigate(base+p.path)); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		mu.Lock()
		code := status
		mu.Unlock()
		for _, w := range []int64{phoneWidth, screenWidth} {
			var m layoutMeasure
			if err := chromedp.Run(ctx, chromedp.EmulateViewport(w, 900), chromedp.Evaluate(measureLayout, &m)); err != nil {
				t.Fatalf("%s at %d px: %v", p.path, w, err)
			}
			if m.ScrollWidth > m.InnerWidth {
				t.Errorf("%s (%d) as %s at %d px is %d px wide: %s", p.path, code, role, w, m.ScrollWidth, m.Widest)
			}
			for _, c := range m.Cards {
				t.Errorf("%s (%d) as %s at %d px: %s", p.path, code, role, w, c)
			}
			// A wide screen has room for every table: none hides a column.
			for _, c := range m.Scrolling {
				if w == screenWidth {
					t.Errorf("%s (%d) as %s at %d px: a table scrolls: %s", p.path, code, role, w, c)
				}
			}
			if shoot[p.pattern] && code == 200 && !shot[p.pattern] {
				name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(p.path, "-"), "-")
				if name == "" {
					name = "home"
				}
				file := fmt.Sprintf("%s-%d-%s.jpg", role, w, name)
				if err := chromedp.Run(ctx, screenshot(filepath.Join(shots, file))); err != nil {
					t.Fatal(err)
				}
			}
		}
		shot[p.pattern] = true
	}
	t.Logf("%d paths at 2 widths in %s", len(paths), time.Since(started).Round(time.Millisecond))
}

// screenshot saves the page, full length up to 5000 px (a longer page
// costs seconds to encode and shows nothing more), as JPEG.
func screenshot(file string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		_, _, _, _, _, content, err := page.GetLayoutMetrics().Do(ctx)
		if err != nil {
			return err
		}
		b, err := page.CaptureScreenshot().WithFormat(page.CaptureScreenshotFormatJpeg).WithQuality(75).WithCaptureBeyondViewport(true).
			WithClip(&page.Viewport{Width: content.Width, Height: min(content.Height, 5000), Scale: 1}).Do(ctx)
		if err != nil {
			return err
		}
		return os.WriteFile(file, b, 0o644)
	})
}

// seedLayout is seedJourneys' data with last month closed, plus what
// makes pages wide in real life: a long account name, a job name without
// spaces, array tasks, GPU jobs costing thousands, several partitions
// and QOS, a budget and an API token.
func seedLayout(t *testing.T, e *testEnv) layoutData {
	t.Helper()
	ctx := context.Background()
	pool := e.srv.pool
	closed, rows := seedJourneys(t, e)
	d := layoutData{closed: closed, open: monthStart(time.Now()).Format("2006-01"),
		longAccount: "astrophysics-large-scale-structure-2026", foreignReceipt: rows[103]}

	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	month := monthStart(time.Now())
	var jobs []slurm.Job
	users := []string{"tally-t-alice", "tally-t-coord", "tally-t-alice-with-a-long-unix-name"}
	parts := []struct{ partition, qos string }{{"gpu", "normal"}, {"bigmem", "standby"}, {"cpu", "normal"}, {"short", "debug"}, {"usage", "normal"}}
	for i := range 24 {
		p := parts[i%len(parts)]
		task := int64(i)
		j := slurm.Job{Cluster: "testbed", JobID: int64(9_876_540 + i), ArrayJobID: 9_876_500, ArrayTaskID: &task,
			Submit: end.Add(-80 * time.Hour), Start: end.Add(-72 * time.Hour), End: end.Add(-time.Duration(i) * time.Minute),
			User: users[i%len(users)], Account: d.longAccount, Partition: p.partition, QOS: p.qos, State: "COMPLETED",
			Name:           "relax_Fe2O3_supercell_4x4x4_kpoints_8x8x8_hse06_spin_polarised_" + fmt.Sprint(i),
			ElapsedSeconds: 72 * 3600, CPUTimeMicros: 128 * 60 * 3600 * 1_000_000,
			Requested: slurm.TRES{CPU: 128, MemMiB: 1_024_000, Nodes: 4}, Allocated: slurm.TRES{CPU: 128, MemMiB: 1_024_000, Nodes: 4},
			Steps: []slurm.Step{{ID: "batch", Name: "batch", State: "COMPLETED", ElapsedSeconds: 72 * 3600, Tasks: 1, NodeList: "gpu-node-[001-004]"},
				{ID: "0", Name: "vasp_std_gam_ncl_with_a_long_step_name", State: "COMPLETED", ElapsedSeconds: 72 * 3600, Tasks: 512,
					NodeList: "gpu-node-[001-004],gpu-node-[017-020],bigmem-node-[101-108]"}}, StepCount: 2}
		if p.partition == "gpu" {
			j.Requested.GPU, j.Requested.GPUByType = 32, map[string]int64{"a100": 32}
			j.Allocated.GPU, j.Allocated.GPUByType = 32, map[string]int64{"a100": 32}
		}
		jobs = append(jobs, j)
	}
	storeJobs(t, e, month, end.Add(time.Hour), jobs...)
	if _, err := billingpg.New(pool).RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT id FROM jobs WHERE job_id = 9876540`).Scan(&d.receipt); err != nil {
		t.Fatal(err)
	}
	firstTask := int64(0)
	d.receiptBySlurmID = templates.JobHref("testbed", 9_876_540, 9_876_500, &firstTask)
	var first, last int64
	if err := pool.QueryRow(ctx, `SELECT min(id), max(id) FROM rate_cards`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	d.rateDiff = fmt.Sprintf("/admin/rates?from=%d&to=%d", first, last)
	for _, q := range []string{
		`INSERT INTO slurm_coordinators (cluster, account, username) VALUES ('testbed', '` + d.longAccount + `', 'tally-t-coord')`,
		`INSERT INTO account_details (account, display_name, pi, contact_email, cost_centre, po_number)
		 VALUES ('` + d.longAccount + `', 'Large-scale structure of the universe (consolidated allocation)', 'Professor Maximiliane Oppenheimer-Wolfenstein',
		 'maximiliane.oppenheimer-wolfenstein@astrophysics.example-university.ac.uk', 'CC-4400-ASTRO-2026-0001', 'PO-2026-000123456789')`,
		`INSERT INTO budgets (account, unit, amount, currency, starts, ends, updated_by)
		 SELECT '` + d.longAccount + `', 'money', 250000000000, 'USD', m, m + interval '1 month', 'tally-t-admin'
		 FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m) x`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, hash, _ := newAPIToken()
	if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (username, slurm_user, name, token_sha256, created_at, expires_at)
		VALUES ('tally-t-alice', 'tally-t-alice', 'nightly-usage-report-for-the-department-dashboard', $1, now(), now() + interval '90 days')`, hash[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := billingpg.New(pool).ClosePeriod(ctx, closed, "tally-t-admin", billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	return d
}
