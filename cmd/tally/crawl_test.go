package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/testenv"
)

// figures collects every figure a surface shows for a scope ("2026-11
// total", "2026-11/physics jobs", "2026-11/alice total"), with where it
// was read, so that one scope's figures can be required to agree.
type figures struct {
	t    *testing.T
	seen map[string]map[string]string // scope -> source -> value
}

func (f *figures) add(scope, source, value string) {
	if f.seen[scope] == nil {
		f.seen[scope] = map[string]string{}
	}
	f.seen[scope][source] = value
}

// money records an amount as shown ("1,234.56 USD", "1234.56") in its
// exact micro-units, so "8.62" and "8.620000" are the same figure.
func (f *figures) money(scope, source, shown string) {
	f.t.Helper()
	s := strings.TrimSpace(strings.ReplaceAll(shown, ",", ""))
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	m, err := billing.ParseMicros(s)
	if err != nil {
		f.t.Errorf("%s on %s: amount %q: %v", scope, source, shown, err)
		return
	}
	f.add(scope+" total", source, m.String())
}

func (f *figures) count(scope, source, shown string) {
	f.t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(shown), ",", ""), 10, 64)
	if err != nil {
		f.t.Errorf("%s on %s: count %q: %v", scope, source, shown, err)
		return
	}
	f.add(scope+" jobs", source, strconv.FormatInt(n, 10))
}

// agree fails for every scope whose sources disagree, and returns how
// many scopes and figures were compared.
func (f *figures) agree() (scopes, values int) {
	keys := make([]string, 0, len(f.seen))
	for k := range f.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := f.seen[k]
		distinct := map[string][]string{}
		for src, v := range vals {
			distinct[v] = append(distinct[v], src)
			values++
		}
		scopes++
		if len(distinct) > 1 {
			var b strings.Builder
			for v, srcs := range distinct {
				sort.Strings(srcs)
				fmt.Fprintf(&b, "\n    %s: %s", v, strings.Join(srcs, ", "))
			}
			f.t.Errorf("%s disagrees:%s", k, b.String())
		}
	}
	return scopes, values
}

// demoSession is one demo user signed in to a running demo.
type demoSession struct {
	t    *testing.T
	base string
	c    *http.Client
	user string
}

func (d *demoSession) get(path string) []byte {
	d.t.Helper()
	resp, err := d.c.Get(d.base + path)
	if err != nil {
		d.t.Fatalf("%s GET %s: %v", d.user, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("%s GET %s: %d\n%.500s", d.user, path, resp.StatusCode, b)
	}
	return b
}

func (d *demoSession) page(path string) *goquery.Document {
	d.t.Helper()
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(d.get(path)))
	if err != nil {
		d.t.Fatal(err)
	}
	return doc
}

func (d *demoSession) csv(path string) []map[string]string {
	d.t.Helper()
	return d.parseCSV(path, d.get(path))
}

func (d *demoSession) parseCSV(path string, b []byte) []map[string]string {
	d.t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) == 0 {
		d.t.Fatalf("%s %s: %v", d.user, path, err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// jobLines reads a period's job lines CSV, or says it was refused
// because the period's jobs include an archived month's (409).
func (d *demoSession) jobLines(path string) (rows []map[string]string, archived bool) {
	d.t.Helper()
	resp, err := d.c.Get(d.base + path)
	if err != nil {
		d.t.Fatalf("%s GET %s: %v", d.user, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusConflict && bytes.Contains(b, []byte("which is archived: restore it to export them")) {
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			d.t.Errorf("%s: a refusal sent as a download (%s)", path, cd)
		}
		return nil, true
	}
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("%s GET %s: %d\n%.500s", d.user, path, resp.StatusCode, b)
	}
	return d.parseCSV(path, b), false
}

func (d *demoSession) post(path string, form url.Values) {
	d.t.Helper()
	req, _ := http.NewRequest("POST", d.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		d.t.Fatalf("%s POST %s: %d", d.user, path, resp.StatusCode)
	}
}

// demoRun is a tally demo running on a fresh database.
type demoRun struct {
	base      string
	passwords map[string]string // demo users' passwords, as printed
	pool      *pgxpool.Pool
	stderr    func() string // what it printed on standard error so far
	stop      func() int    // Ctrl-C; its exit code
}

// runningDemo starts tally demo with args on a fresh database and waits
// until it serves.
func runningDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errMu sync.Mutex
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdout: pw, stderr: &lockedBuffer{mu: &errMu, b: &errOut}}, append([]string{"demo", "--addr", addr}, args...))
		pw.Close()
	}()
	stopped, code := false, 0
	d := &demoRun{base: "http://" + addr, passwords: map[string]string{}, pool: pool,
		stderr: func() string { errMu.Lock(); defer errMu.Unlock(); return errOut.String() },
		stop: func() int {
			if stopped {
				return code
			}
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Error("demo did not stop")
				code = -1
			}
			return code
		}}
	t.Cleanup(func() { d.stop() })
	sc := bufio.NewScanner(pr)
	deadline := time.AfterFunc(3*time.Minute, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 5 && f[0] == "demo" && f[1] == "user:" {
			d.passwords[f[2]] = f[4]
		}
		if strings.HasPrefix(line, "Start with") {
			break
		}
	}
	deadline.Stop()
	go io.Copy(io.Discard, pr)
	if len(d.passwords) != 4 {
		t.Fatalf("demo users printed: %v\n%s", d.passwords, d.stderr())
	}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(d.base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func signIn(t *testing.T, base, user, password string) *demoSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &demoSession{t: t, base: base, c: &http.Client{Jar: jar}, user: user}
	d.post("/login", url.Values{"username": {user}, "password": {password}, "next": {"/"}})
	return d
}

// TestOneTruth crawls the demo as each role would, reads every figure
// each page, CSV and PDF shows for every period, account and person, and
// requires the figures of one scope to be equal wherever they appear
// (docs/money.md defines them). The demo's own start-up lines count too.
func TestOneTruth(t *testing.T) {
	demo := runningDemo(t, "--months", "3", "--jobs-per-day", "120")
	base, pw, stderr := demo.base, demo.passwords, demo.stderr
	admin := signIn(t, base, "admin", pw["admin"])
	fin := signIn(t, base, "finance", pw["finance"])
	alice := signIn(t, base, "alice", pw["alice"])
	carol := signIn(t, base, "carol", pw["carol"])
	f := &figures{t: t, seen: map[string]map[string]string{}}

	// An adjustment in the open period, against a person: statements add it.
	periods := admin.page("/periods")
	var names []string
	open := ""
	periods.Find(`tr[data-testid="period-row"]`).Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("data-period")
		names = append(names, name)
		if strings.Contains(s.Text(), "open") && open == "" {
			open = name
		}
	})
	if len(names) < 3 || open == "" {
		t.Fatalf("periods %v, open %q", names, open)
	}
	admin.post("/periods/"+open+"/adjustments", url.Values{"account": {"physics"}, "user": {"alice"}, "amount": {"-1.005"}, "reason": {"crawl credit"}})

	// The demo's start-up lines: "demo: closed 2026-10: 3 statements, 8589 jobs, total 18148.72 USD".
	for _, m := range regexp.MustCompile(`demo: closed (\S+): \d+ statements, (\d+) jobs, total (\S+ \S+)`).FindAllStringSubmatch(stderr(), -1) {
		f.count(m[1], "demo start-up", m[2])
		f.money(m[1], "demo start-up", m[3])
	}

	crawlFigures(t, f, crawl{admin: admin, fin: fin, alice: alice, carol: carol}, names)
	scopes, values := f.agree()
	if scopes < 50 {
		t.Errorf("only %d scopes compared", scopes)
	}
	t.Logf("compared %d figures over %d scopes (%d periods)", values, scopes, len(names))

	// A closed month archived (tally archive): every figure of a closed
	// period reads as it did, wherever it is shown, and they still agree.
	store := billingpg.New(demo.pool)
	months, err := store.Months(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var month time.Time
	var why []string
	for _, m := range months {
		if !m.Archived && len(m.Blockers) == 0 && m.Jobs > 0 {
			month = m.Month
			break
		}
		why = append(why, m.Month.Format("2006-01")+": "+strings.Join(m.Blockers, "; "))
	}
	if month.IsZero() {
		t.Fatalf("no month of the demo can be archived:\n%s", strings.Join(why, "\n"))
	}
	began := time.Now()
	res, err := store.Archive(context.Background(), billingpg.ArchiveOptions{Month: month, Dir: t.TempDir(), By: "crawl"})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began).Round(time.Millisecond)
	after := &figures{t: t, seen: map[string]map[string]string{}}
	refused := crawlFigures(t, after, crawl{admin: admin, fin: fin, alice: alice, carol: carol}, names)
	if len(refused) == 0 {
		t.Errorf("no period's jobs.csv was refused after archiving %s", res.Manifest.Month)
	}
	closed := map[string]bool{}
	ps, err := store.Periods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		closed[p.Name] = p.Closed()
	}
	compared := 0
	for scope, sources := range f.seen {
		p, _, _ := strings.Cut(strings.Fields(scope)[0], "/")
		if !closed[p] {
			continue // the open period's figures follow the living demo
		}
		for src, v := range sources {
			if strings.Contains(src, "jobs.csv") && refused[p] || src == "demo start-up" {
				continue // refused; not read again
			}
			compared++
			if got := after.seen[scope][src]; got != v {
				t.Errorf("after archiving %s: %s on %s is %q, was %q", res.Manifest.Month, scope, src, got, v)
			}
		}
	}
	scopes, values = after.agree()
	t.Logf("archived %s (%d jobs) in %s: %d figures of closed periods unchanged; %d figures over %d scopes agree; job lines refused for %v",
		res.Manifest.Month, res.Manifest.Tables[0].Rows, took, compared, values, scopes, refused)
}

// crawl is the demo's signed-in people a crawl reads as.
type crawl struct{ admin, fin, alice, carol *demoSession }

// crawlFigures reads every figure each page, CSV and PDF shows for every
// period, account and person into f, and returns the periods whose job
// lines were refused because their jobs are archived.
func crawlFigures(t *testing.T, f *figures, c crawl, names []string) map[string]bool {
	t.Helper()
	admin, fin, alice, carol := c.admin, c.fin, c.alice, c.carol
	refused := map[string]bool{}
	for who, d := range map[string]*demoSession{"admin": admin, "finance": fin} {
		// Finance's home and Statements are every account's periods too.
		for _, page := range []string{"/periods", "/finance", "/", "/statements"} {
			if who == "admin" && page != "/periods" {
				continue
			}
			doc := d.page(page)
			doc.Find(`tr[data-testid="period-row"]`).Each(func(_ int, s *goquery.Selection) {
				p, _ := s.Attr("data-period")
				f.count(p, who+" "+page, s.Find(`[data-testid="jobs"]`).Text())
				f.money(p, who+" "+page, s.Find(`[data-testid="total"]`).Text())
			})
		}
	}
	history := fin.page("/finance")
	history.Find(`[data-testid="history-sum"]`).Each(func(_ int, s *goquery.Selection) {
		p, _ := s.Attr("data-period")
		f.money(p, "/finance All accounts", s.Text())
	})
	history.Find(`[data-testid="account-history"] tbody tr`).Each(func(_ int, r *goquery.Selection) {
		a, _ := r.Attr("data-account")
		r.Find("td").Each(func(_ int, s *goquery.Selection) {
			p, _ := s.Attr("data-period")
			if strings.TrimSpace(s.Text()) != "0.00 USD" { // no statement that period
				f.money(p+"/"+a, "/finance history", s.Text())
			}
		})
	})

	users := map[string]bool{}
	accounts := map[string]bool{}
	for _, p := range names {
		doc := admin.page("/periods/" + p)
		f.money(p, "/periods/"+p, doc.Find(`[data-testid="period-total"]`).Text())
		f.count(p, "/periods/"+p, doc.Find(`[data-testid="period-jobs"]`).Text())
		doc.Find(`[data-testid="statement-total"]`).Each(func(_ int, s *goquery.Selection) {
			a, _ := s.Attr("data-account")
			accounts[a] = true
			f.money(p+"/"+a, "/periods/"+p, s.Text())
		})
		doc.Find(`[data-testid="statement-jobs"]`).Each(func(_ int, s *goquery.Selection) {
			a, _ := s.Attr("data-account")
			f.count(p+"/"+a, "/periods/"+p, strings.TrimSuffix(s.Text(), " jobs charged"))
		})
		doc.Find(`[data-testid="breakdown-By user"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
			u, _ := s.Attr("data-key")
			users[u] = true
			f.count(p+"/"+u, "/periods/"+p+" by user", s.Find(`[data-testid="jobs"]`).Text())
			f.money(p+"/"+u, "/periods/"+p+" by user", s.Find(`[data-testid="total"]`).Text())
		})

		// Exports: the account summary, and the job lines and adjustments
		// a finance office adds up by hand (each cluster's component
		// summed exactly and rounded once, as docs/money.md says).
		for who, d := range map[string]*demoSession{"admin": admin, "finance": fin} {
			var total billing.Micros
			var jobs int64
			for _, row := range d.csv("/periods/" + p + "/accounts.csv") {
				f.money(p+"/"+row["account"], who+" accounts.csv", row["total"])
				f.count(p+"/"+row["account"], who+" accounts.csv", row["jobs"])
				m, _ := billing.ParseMicros(row["total"])
				total += m
				n, _ := strconv.ParseInt(row["jobs"], 10, 64)
				jobs += n
			}
			f.money(p, who+" accounts.csv (sum)", total.String())
			f.count(p, who+" accounts.csv (sum)", strconv.FormatInt(jobs, 10))
		}
		components := []string{"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum"}
		exact := map[string]map[string]billing.Micros{} // account -> cluster/component -> exact sum
		jobsOf := map[string]map[string]bool{}
		jobLines, archived := fin.jobLines("/periods/" + p + "/jobs.csv")
		refused[p] = archived
		for _, row := range jobLines {
			a := row["account"]
			if exact[a] == nil {
				exact[a], jobsOf[a] = map[string]billing.Micros{}, map[string]bool{}
			}
			jobsOf[a][row["cluster"]+"/"+row["job_id"]+"/"+row["array_task_id"]+"/"+row["submit"]] = true
			for _, c := range components {
				if row[c] != "" {
					m, err := billing.ParseMicros(row[c])
					if err != nil {
						t.Fatalf("jobs.csv %s: %v", c, err)
					}
					exact[a][row["cluster"]+"/"+c] += m
				}
			}
		}
		adjustments := map[string]billing.Micros{}
		for _, row := range fin.csv("/periods/" + p + "/adjustments.csv") {
			m, err := billing.ParseMicros(row["amount"])
			if err != nil {
				t.Fatalf("adjustments.csv amount %q: %v", row["amount"], err)
			}
			adjustments[row["account"]] += m
		}
		pol := billing.NewPolicy(billing.HalfUp, nil)
		var periodTotal billing.Micros
		var periodJobs int
		for a := range accounts {
			if archived || exact[a] == nil && adjustments[a] == 0 {
				continue
			}
			var total billing.Micros
			for _, m := range exact[a] {
				total += pol.Round(m, "USD")
			}
			if adjustments[a] != 0 {
				total += pol.Round(adjustments[a], "USD")
			}
			f.money(p+"/"+a, "jobs.csv + adjustments.csv", total.String())
			f.count(p+"/"+a, "jobs.csv", strconv.Itoa(len(jobsOf[a])))
			periodTotal += total
			periodJobs += len(jobsOf[a])
		}
		if !archived {
			f.money(p, "jobs.csv + adjustments.csv", periodTotal.String())
			f.count(p, "jobs.csv", strconv.Itoa(periodJobs))
		}

		// Each account's statement PDF prints the same total.
		for a := range accounts {
			if vals := f.seen[p+"/"+a+" total"]; vals != nil {
				shown := doc.Find(`[data-testid="statement-total"][data-account="` + a + `"]`).Text()
				pdf := testenv.PDFText(t, admin.get("/periods/"+p+"/statement.pdf?account="+url.QueryEscape(a)))
				if shown != "" && !strings.Contains(pdf, "Total "+shown) {
					t.Errorf("%s/%s: statement PDF lacks %q", p, a, "Total "+shown)
				}
			}
		}
		// Every person's statement, as an admin sees it (and its PDF).
		for u := range users {
			st := admin.page("/statements/" + p + "/" + u)
			f.money(p+"/"+u, "/statements/"+p+"/"+u, st.Find(`[data-testid="user-total"]`).Text())
			if st.Find(`[data-testid="user-total"]`).Length() == 0 {
				f.money(p+"/"+u, "/statements/"+p+"/"+u, "0")
			}
			f.count(p+"/"+u, "/statements/"+p+"/"+u, st.Find(`[data-testid="user-jobs"]`).Text())
			shown := st.Find(`[data-testid="user-total"]`).Text()
			if pdf := testenv.PDFText(t, admin.get("/statements/"+p+"/"+u+".pdf")); shown != "" && !strings.Contains(pdf, "Total "+shown) {
				t.Errorf("%s/%s: person statement PDF lacks %q", p, u, "Total "+shown)
			}
		}
		// carol coordinates physics: her view of its statement.
		if pc := carol.page("/periods/" + p + "?account=physics"); pc.Find(`[data-testid="statement-total"]`).Length() > 0 {
			f.money(p+"/physics", "carol /periods/"+p+"?account=physics", pc.Find(`[data-testid="statement-total"]`).Text())
		}
	}

	// Each account's page: its trend (every period) and, for the current
	// period, its tiles, the accounts list and the dashboards.
	cur := admin.page("/")
	heading := strings.TrimSpace(cur.Find("h1").First().Text()) // "Period 2026-12 so far"
	current := strings.TrimSuffix(strings.TrimPrefix(heading, "Period "), " so far")
	f.money(current, "admin dashboard", cur.Find(`[data-testid="month-total"]`).Text())
	f.count(current, "admin dashboard", cur.Find(`[data-testid="month-jobs"]`).Text())
	cur.Find(`.card:has(h2:contains("By account")) tbody tr`).Each(func(_ int, s *goquery.Selection) {
		a, _ := s.Attr("data-key")
		f.money(current+"/"+a, "admin dashboard by account", s.Find(`[data-testid="total"]`).Text())
		f.count(current+"/"+a, "admin dashboard by account", s.Find(`[data-testid="jobs"]`).Text())
	})
	// The admin's line about the last closed period covers the tiles'
	// scope: the whole installation, so the period's total.
	if lastAll := strings.Fields(strings.TrimSpace(cur.Find(`[data-testid="last-statement"]`).Text())); len(lastAll) > 0 {
		f.money(lastAll[0], "admin dashboard last closed", cur.Find(`[data-testid="last-statement-total"]`).Text())
		f.count(lastAll[0], "admin dashboard last closed", cur.Find(`[data-testid="last-statement-jobs"]`).Text())
	} else {
		t.Error("the admin's dashboard shows no last closed period")
	}
	admin.page("/accounts").Find(`tbody tr`).Each(func(_ int, s *goquery.Selection) {
		a, _ := s.Attr("data-key")
		f.money(current+"/"+a, "/accounts", s.Find(`[data-testid="total"]`).Text())
		f.count(current+"/"+a, "/accounts", s.Find(`[data-testid="jobs"]`).Text())
	})
	for a := range accounts {
		for who, d := range map[string]*demoSession{"admin": admin, "carol": carol} {
			if who == "carol" && a != "physics" {
				continue
			}
			doc := d.page("/accounts/" + url.PathEscape(a))
			f.money(current+"/"+a, who+" /accounts/"+a, doc.Find(`[data-testid="account-charges"] [data-testid="total"]`).Text())
			f.count(current+"/"+a, who+" /accounts/"+a, doc.Find(`[data-testid="account-jobs"]`).Text())
			doc.Find(`[data-testid="account-trend"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
				label, _ := s.Attr("data-key")
				p := strings.TrimSuffix(label, " (open)")
				if strings.TrimSpace(s.Find(`[data-testid="jobs"]`).Text()) == "0" {
					return // no statement for the account that period
				}
				f.money(p+"/"+a, who+" /accounts/"+a+" trend", s.Find(`[data-testid="total"]`).Text())
				f.count(p+"/"+a, who+" /accounts/"+a+" trend", s.Find(`[data-testid="jobs"]`).Text())
				// The page's tiles for that period (its period choice).
				pd := d.page("/accounts/" + url.PathEscape(a) + "?period=" + url.QueryEscape(p))
				f.money(p+"/"+a, who+" /accounts/"+a+"?period="+p, pd.Find(`[data-testid="account-charges"] [data-testid="total"]`).Text())
				f.count(p+"/"+a, who+" /accounts/"+a+"?period="+p, pd.Find(`[data-testid="account-jobs"]`).Text())
			})
		}
	}

	// alice's own view: her statements list, her statement pages and her
	// dashboard (she coordinates nothing, so it is her own scope).
	alice.page("/statements").Find(`tr[data-testid="period-row"]`).Each(func(_ int, s *goquery.Selection) {
		p, _ := s.Attr("data-period")
		f.money(p+"/alice", "alice /statements", s.Find(`[data-testid="total"]`).Text())
		f.count(p+"/alice", "alice /statements", s.Find(`[data-testid="jobs"]`).Text())
	})
	for _, p := range names {
		st := alice.page("/statements/" + p + "/alice")
		if st.Find(`[data-testid="user-total"]`).Length() > 0 {
			f.money(p+"/alice", "alice /statements/"+p+"/alice", st.Find(`[data-testid="user-total"]`).Text())
		}
		f.count(p+"/alice", "alice /statements/"+p+"/alice", st.Find(`[data-testid="user-jobs"]`).Text())
	}
	dash := alice.page("/")
	f.money(current+"/alice", "alice dashboard", dash.Find(`[data-testid="month-total"]`).Text())
	f.count(current+"/alice", "alice dashboard", dash.Find(`[data-testid="month-jobs"]`).Text())
	last := strings.Fields(strings.TrimSpace(dash.Find(`[data-testid="last-statement"]`).Text()))
	if len(last) == 0 {
		t.Fatal("alice's dashboard shows no last statement")
	}
	f.money(last[0]+"/alice", "alice dashboard last statement", dash.Find(`[data-testid="last-statement-total"]`).Text())
	f.count(last[0]+"/alice", "alice dashboard last statement", dash.Find(`[data-testid="last-statement-jobs"]`).Text())

	return refused
}
