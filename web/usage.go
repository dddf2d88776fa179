package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/templates"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// reportStore is what the dashboard, job lists and receipts read.
type reportStore interface {
	Jobs(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter) ([]billingpg.JobRow, error)
	EachJob(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter, fn func(billingpg.JobRow) error) error
	Totals(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter) (billingpg.JobTotals, error)
	Receipt(ctx context.Context, sc billingpg.Scope, row int64) (billingpg.Receipt, error)
	JobsByRef(ctx context.Context, sc billingpg.Scope, cluster string, ref slurm.JobRef) ([]billingpg.JobMatch, error)
	Summarize(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter) (billingpg.Summary, error)
	DailyCosts(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter) ([]billingpg.DayCost, error)
	TotalsBy(ctx context.Context, sc billingpg.Scope, by string, f billingpg.JobFilter) ([]billingpg.AccountTotals, error)
}

// cardStore is what the rate card pages and estimates read and change.
type cardStore interface {
	Cards(ctx context.Context) (billing.Cards, error)
	Policy(ctx context.Context, rule billing.Rounding) (billing.Policy, error)
	KnownPartitions(ctx context.Context) ([]string, error)
	KnownAccount(ctx context.Context, account string) (bool, error)
	AddVersion(ctx context.Context, yamlText, by string) (*billing.RateCard, error)
	WhatIf(ctx context.Context, draft *billing.RateCard, from, to time.Time, rule billing.Rounding) ([]billingpg.WhatIfRow, error)
}

// scope is the viewer's authorisation as a query filter: admins and
// finance see everything, others their own jobs and those of accounts
// they coordinate.
func scope(v *Viewer) billingpg.Scope {
	if v.Has(RoleAdmin) || v.Has(RoleFinance) {
		return billingpg.Scope{All: true}
	}
	return billingpg.Scope{User: v.SlurmUser, Accounts: v.Accounts}
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// currentPeriod is the billing period holding now, or (when none does) a
// calendar month that matches no period and so holds no charges.
func (s *Server) currentPeriod(ctx context.Context, now time.Time) (billingpg.Period, error) {
	p, ok, err := s.billing.PeriodAt(ctx, now)
	if err != nil || ok {
		return p, err
	}
	from := monthStart(now)
	return billingpg.Period{Name: from.Format("January 2006"), Starts: from, Ends: from.AddDate(0, 1, 0), Status: billing.PeriodOpen}, nil
}

// periodSummary is a scope's figures for a period: jobs and charges from
// its statements (the one computation every page shares), usage (hours,
// efficiency, idle cost) from the daily rollup of jobs that ended in it.
func (s *Server) periodSummary(ctx context.Context, p billingpg.Period, sc billingpg.Scope) (billingpg.Summary, []billing.Statement, error) {
	f := billingpg.JobFilter{From: p.Starts, To: p.Ends}
	sum, err := s.billing.Summarize(ctx, sc, f)
	if err != nil {
		return sum, nil, err
	}
	sum.Jobs, sum.Total = 0, 0
	if p.ID == 0 {
		return sum, nil, nil
	}
	ps, err := s.billing.ScopeStatements(ctx, p, sc, s.rounding)
	if err != nil {
		return sum, nil, err
	}
	sum.Jobs, sum.Total = int64(ps.Jobs), ps.Total
	if ps.Currency != "" {
		sum.Currency = ps.Currency
	}
	return sum, ps.Statements, nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	sc := scope(v)
	cluster, err := s.clusterParam(r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	sc.Cluster = cluster
	now := time.Now().UTC()
	cur, err := s.currentPeriod(ctx, now)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := templates.DashboardData{MonthName: "Period " + cur.Name, Scope: "your jobs", Clusters: s.clusterLinks(r, cluster)}
	if sc.All {
		d.Scope = "the whole cluster"
		if len(s.clusters) > 1 {
			d.Scope = "every cluster"
		}
	} else if len(sc.Accounts) > 0 {
		d.Scope = "your jobs and the accounts you coordinate"
	}
	if cluster != "" {
		d.Scope += " on cluster " + cluster + " (adjustments, which belong to accounts, are left out)"
	}
	month, sts, err := s.periodSummary(ctx, cur, sc)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if month.Currency == "" {
		month.Currency = s.currency(r)
	}
	pol := s.policy(r.Context())
	f := figures{pol}
	d.Month = f.summary(month)
	sort.SliceStable(sts, func(i, j int) bool { return sts[i].Total > sts[j].Total })
	d.ByAccount = f.statementTotals(sts)
	days, err := s.billing.DailyCosts(ctx, sc, billingpg.JobFilter{From: now.AddDate(0, 0, -30), To: now.Add(time.Hour)})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d.Chart = dailyChart(pol, "Charges per day by job end, last 30 days (exact sums, rounded for display)", days, now.AddDate(0, 0, -29), 30, month.Currency)
	parts, err := s.billing.TotalsBy(ctx, sc, "partition", billingpg.JobFilter{From: cur.Starts, To: cur.Ends})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d.ByPartition = f.totals(parts, month.Currency)
	// A straight-line forecast once a few days of the period are in.
	if elapsed := now.Sub(cur.Starts); elapsed > 72*time.Hour && month.Total > 0 {
		forecast := billing.Micros(int64(month.Total) * int64(cur.Ends.Sub(cur.Starts)/time.Minute) / int64(elapsed/time.Minute))
		d.Forecast = pol.Money(forecast, month.Currency)
	}
	if d.Recent, err = s.billing.Jobs(ctx, sc, billingpg.JobFilter{Sort: "end", Desc: true, Limit: 10}); err != nil {
		s.serverError(w, r, err)
		return
	}
	d.HasJobs = len(d.Recent) > 0
	// The last closed period over exactly the tiles' scope (periodSummary,
	// the same function and scope), so the two never cover different jobs.
	if last, ok, err := s.billing.LastClosedPeriod(ctx); err != nil {
		s.serverError(w, r, err)
		return
	} else if ok {
		ls, _, err := s.periodSummary(ctx, last, sc)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if ls.Currency == "" {
			ls.Currency = month.Currency
		}
		d.LastClosed = &templates.LastStatement{Period: last.Name, User: v.SlurmUser, Scope: d.Scope, Jobs: count(ls.Jobs),
			Total: f.money(ls.Total, ls.Currency), Own: !sc.All && len(sc.Accounts) == 0}
	}
	if len(sc.Accounts) > 0 {
		// Coordinators: the jobs that wasted most in their scope this period.
		wf := billingpg.JobFilter{From: cur.Starts, To: cur.Ends}
		list, err := s.wastefulJobs(ctx, sc, wf, pol)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		q := url.Values{"wasteful": {"1"}, "sort": {"cost"}, "from": {cur.Starts.Format("2006-01-02")}, "to": {cur.Ends.AddDate(0, 0, -1).Format("2006-01-02")}}
		if cluster != "" {
			q.Set("cluster", cluster)
		}
		d.Wasteful = &templates.WastefulJobs{Jobs: list, Rule: wasteRuleWords(pol, month.Currency), Href: "/jobs?" + q.Encode()}
	}
	d.Freshness = s.freshness(r)
	_, hasToken := s.slurmCredential(r)
	d.CanRefresh = hasToken && s.ingest != nil && s.slurm != nil
	budgets, err := s.budgetPanel(ctx, v, "", pol)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, b := range budgets {
		// Admins and finance see every budget on the budgets page; their
		// start page shows only those that need attention.
		if !sc.All || b.State != "ok" {
			d.Budgets = append(d.Budgets, b)
		}
	}
	s.render(w, r, http.StatusOK, templates.Dashboard(s.pageWith(r, "", pol), d))
}

// freshness says how current the ingested records are.
func (s *Server) freshness(r *http.Request) string {
	last, err := jobstore.LastGoodWindow(r.Context(), s.pool, "")
	if err != nil || last == nil {
		return "No records have been ingested yet."
	}
	ago := time.Since(*last)
	if ago < 0 {
		ago = 0
	}
	return fmt.Sprintf("Records up to %s (%s ago).", templates.Timestamp(*last), humanDuration(ago))
}

// refresh pulls the viewer's own recent records from every cluster, with
// their own token of each.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	var done, failed []string
	var limited *ingest.RefreshLimitError
	for i, c := range s.clusters {
		cred, ok := s.clusterCredential(r, i)
		if !ok || c.Ingest == nil || c.Slurm == nil {
			continue
		}
		switch err := c.Ingest.RefreshUser(ctx, cred, 7); {
		case errors.As(err, &limited):
		case err != nil:
			s.log.Warn("refresh failed", "cluster", c.Name, "user", v.SlurmUser, "err", err)
			failed = append(failed, c.Name)
		default:
			done = append(done, c.Name)
		}
	}
	switch {
	case len(done) == 0 && len(failed) == 0 && limited != nil:
		s.flash(r, "info", "Not refreshed: "+limited.Error()+".")
	case len(done) == 0 && len(failed) == 0:
		s.flash(r, "error", "This Tally cannot ask Slurm for your records directly; they arrive with the next scheduled ingest.")
	case len(failed) > 0:
		s.flash(r, "error", "Slurm did not answer just now ("+strings.Join(failed, ", ")+"); your records will arrive with the next scheduled ingest.")
	default:
		s.flash(r, "success", "Your records of the last 7 days are refreshed.")
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

const jobsPageSize = 50

// jobFilter reads the list's query: only accounts and users within the
// viewer's scope can be asked for; the scope is applied in SQL anyway. A
// date or cursor that cannot be read is refused with what was wrong,
// never taken as no filter: an export must not quietly widen.
func (s *Server) jobFilter(r *http.Request) (billingpg.JobFilter, error) {
	q := r.URL.Query()
	cluster, err := s.clusterParam(r)
	if err != nil {
		return billingpg.JobFilter{}, err
	}
	sort := q.Get("sort")
	if sort == "" {
		sort = "end"
	}
	f := billingpg.JobFilter{Cluster: cluster, Account: q.Get("account"), User: q.Get("user"), Partition: q.Get("partition"), QOS: q.Get("qos"),
		State: q.Get("state"), Search: q.Get("q"), Unrated: q.Get("unrated") == "1", Wasteful: q.Get("wasteful") == "1", Sort: sort, Desc: q.Get("dir") != "asc", Limit: jobsPageSize + 1}
	// An order that cannot be given is refused, never quietly replaced:
	// a CSV must come in the order asked for.
	if !billingpg.SortKnown(sort) {
		var keys []string
		for _, c := range jobColumns() {
			if c.key != "" {
				keys = append(keys, c.key)
			}
		}
		return f, &fieldError{"sort", inputError{fmt.Sprintf("A job list cannot be sorted by %q: sort by one of %s.", sort, strings.Join(keys, ", "))}}
	}
	if d := q.Get("dir"); d != "" && d != "asc" && d != "desc" {
		return f, &fieldError{"sort", inputError{fmt.Sprintf("The sort direction %q is neither asc nor desc.", d)}}
	}
	date := func(key string) (time.Time, error) {
		v := q.Get(key)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil || t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, &fieldError{key, inputError{fmt.Sprintf("The %q date must be a day such as 2026-03-31; %q is not one.", key, v)}}
		}
		return t, nil
	}
	if f.From, err = date("from"); err != nil {
		return f, err
	}
	if f.To, err = date("to"); err != nil {
		return f, err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // the whole "to" day
	}
	for _, key := range []string{"after", "before"} {
		v := q.Get(key)
		if v == "" {
			continue
		}
		c, ok := billingpg.ParseCursor(v)
		if !ok || !billingpg.CursorFits(sort, c) {
			return f, &inputError{"The page link is damaged (its \"" + key + "\" position cannot be read): go back to the first page."}
		}
		if key == "after" {
			f.After = c
		} else if f.After == nil {
			f.Before = c
		}
	}
	return f, nil
}

// fieldError is input refused because of one field of a form: the page
// shows its message beside that field; elsewhere it is an inputError.
type fieldError struct {
	field string // the query key
	inputError
}

func (e *fieldError) Unwrap() error { return &e.inputError }

// jobColumns are the job list's columns, in the table's order, with the
// sort each header asks for ("" for none).
func jobColumns() []struct{ key, label string } {
	return []struct{ key, label string }{
		{"job", "Job"}, {"name", "Name"}, {"user", "User"}, {"account", "Account"}, {"partition", "Partition"}, {"state", "State"},
		{"end", "Ended"}, {"elapsed", "Elapsed"}, {"cpus", "CPUs"}, {"gpus", "GPUs"}, {"efficiency", "Efficiency"}, {"cost", "Cost"},
	}
}

// jobsPager links the neighbouring pages of a keyset-paged job list: one
// row more than a page was asked for, and its presence says there is more
// in the direction of travel.
func jobsPager(r *http.Request, f billingpg.JobFilter, rows []billingpg.JobRow) ([]billingpg.JobRow, templates.Pager) {
	rows, next, prev := keysetPage(f, rows, jobsPageSize)
	link := func(key string, c billingpg.Cursor) string {
		q := r.URL.Query()
		q.Del("after")
		q.Del("before")
		q.Set(key, c.String())
		return "/jobs?" + q.Encode()
	}
	var pg templates.Pager
	if next != nil {
		pg.NextHref = link("after", *next)
	}
	if prev != nil {
		pg.PrevHref = link("before", *prev)
		q := r.URL.Query()
		q.Del("after")
		q.Del("before")
		pg.FirstHref = strings.TrimSuffix("/jobs?"+q.Encode(), "?")
	}
	return rows, pg
}

// keysetPage trims a keyset query's answer (size+1 rows asked for: the
// extra one says there is more in the direction of travel) to a page and
// gives the cursors of the pages after and before it, nil where there is
// none. The jobs page and the API page alike.
func keysetPage(f billingpg.JobFilter, rows []billingpg.JobRow, size int) (page []billingpg.JobRow, next, prev *billingpg.Cursor) {
	more := len(rows) > size
	if more {
		if f.Before != nil {
			rows = rows[1:]
		} else {
			rows = rows[:size]
		}
	}
	if len(rows) == 0 {
		return rows, nil, nil
	}
	if (f.Before == nil && more) || f.Before != nil {
		c := rows[len(rows)-1].CursorFor(f.Sort)
		next = &c
	}
	if (f.Before != nil && more) || f.After != nil {
		c := rows[0].CursorFor(f.Sort)
		prev = &c
	}
	return rows, next, prev
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request, v *Viewer) {
	f, err := s.jobFilter(r)
	var fe *fieldError
	if errors.As(err, &fe) {
		// The form again with what is wrong beside the field, and no list:
		// a filter that cannot be read is not taken as no filter.
		q := r.URL.Query()
		d := templates.JobsData{Heading: "Jobs", Form: templates.JobFilterForm{Cluster: q.Get("cluster"), Clusters: s.clusterNames(),
			Account: q.Get("account"), Partition: q.Get("partition"), QOS: q.Get("qos"), State: q.Get("state"), Search: q.Get("q"),
			From: q.Get("from"), To: q.Get("to"), Errors: map[string]string{fe.field: fe.Message}}}
		s.render(w, r, http.StatusBadRequest, templates.Jobs(s.page(r, "Jobs"), d))
		return
	}
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	rows, err := s.billing.Jobs(r.Context(), scope(v), f)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	totals, err := s.billing.Totals(r.Context(), scope(v), f)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("after")
	q.Del("before")
	pol := s.policy(r.Context())
	d := templates.JobsData{Heading: "Jobs", CSVHref: "/jobs.csv?" + q.Encode(), Totals: figures{pol}.jobTotals(totals),
		Form: templates.JobFilterForm{Cluster: f.Cluster, Clusters: s.clusterNames(), Account: f.Account, Partition: f.Partition, QOS: f.QOS, State: f.State, Search: f.Search, Unrated: f.Unrated,
			From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to"), Wasteful: f.Wasteful, WasteRule: wasteRuleWords(pol, s.currency(r))}}
	d.Rows, d.Pager = jobsPager(r, f, rows)
	if f.Account != "" {
		d.Heading = "Jobs of account " + f.Account
	}
	// Every header sorts the whole list on the server (first click: the
	// column's largest first), and again the other way when it is the
	// current order.
	for _, col := range jobColumns() {
		sq := r.URL.Query()
		sq.Del("after")
		sq.Del("before")
		sq.Set("sort", col.key)
		state, dir := "", "desc"
		if f.Sort == col.key {
			state = "descending"
			if !f.Desc {
				state = "ascending"
			} else {
				dir = "asc"
			}
		}
		sq.Set("dir", dir)
		d.Sorts = append(d.Sorts, templates.SortLink{Key: col.key, Label: col.label, Href: "/jobs?" + sq.Encode(), Sort: state})
	}
	s.render(w, r, http.StatusOK, templates.Jobs(s.pageWith(r, "Jobs", pol), d))
}

// csvSafe neutralises cells a spreadsheet would run as a formula.
func csvSafe(s string) string { return billingpg.CSVSafe(s) }

// jobsCSV streams the viewer's job list, page by page, never all at once.
func (s *Server) jobsCSV(w http.ResponseWriter, r *http.Request, v *Viewer) {
	f, err := s.jobFilter(r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	csvDownload(w, r, "tally-jobs.csv")
	cw := csv.NewWriter(w)
	cw.Write([]string{"cluster", "job_id", "array_job_id", "array_task_id", "name", "user", "account", "partition", "qos", "state",
		"submit", "start", "end", "elapsed_seconds", "cpus", "mem_mib", "gpus", "cpu_time_seconds", "total", "currency"})
	iso := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	// One query, streamed: the file is written as the rows arrive.
	n := 0
	err = s.billing.EachJob(r.Context(), scope(v), f, func(j billingpg.JobRow) error {
		task, total := "", ""
		if j.ArrayTaskID != nil {
			task = strconv.FormatInt(*j.ArrayTaskID, 10)
		}
		if j.Total != nil {
			total = j.Total.String()
		}
		n++
		if n%5000 == 0 {
			cw.Flush()
		}
		return cw.Write([]string{csvSafe(j.Cluster), strconv.FormatInt(j.JobID, 10), strconv.FormatInt(j.ArrayJobID, 10), task,
			csvSafe(j.Name), csvSafe(j.User), csvSafe(j.Account), csvSafe(j.Partition), csvSafe(j.QOS), csvSafe(j.State),
			j.Submit.UTC().Format(time.RFC3339), iso(j.Start), iso(j.End), strconv.FormatInt(j.ElapsedSeconds, 10),
			strconv.FormatInt(j.CPUs, 10), strconv.FormatInt(j.MemMiB, 10), strconv.FormatInt(j.GPUs, 10),
			strconv.FormatInt(j.CPUTimeMicros/1_000_000, 10), total, csvSafe(j.Currency)})
	})
	cw.Flush()
	if err != nil {
		s.log.Error("jobs csv", "err", err) // headers are gone; the truncated file is the error
	}
}

// loadReceipt finds the receipt of the job in the URL within the viewer's
// scope, or answers 404 itself: the same whether the job exists or not.
// The URL names the job by Tally's row id (/jobs/{id}) or by cluster and
// Slurm's id (/jobs/{cluster}/{slurmid}); others are the further jobs in
// scope that Slurm id names (requeued attempts), newest first.
func (s *Server) loadReceipt(w http.ResponseWriter, r *http.Request, v *Viewer) (rc billingpg.Receipt, others []billingpg.JobMatch, ok bool) {
	var err error
	if cluster := r.PathValue("cluster"); cluster != "" {
		rc, others, err = s.receiptByRef(r.Context(), v, cluster, r.PathValue("slurmid"))
	} else {
		rc, err = s.receiptFor(r.Context(), v, r.PathValue("id"))
	}
	if errors.Is(err, billingpg.ErrNotVisible) {
		s.notFound(w, r)
		return rc, nil, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return rc, nil, false
	}
	return rc, others, true
}

// receiptFor is the receipt of job row id (as the URL has it) within the
// viewer's scope: pages and the API read receipts through it.
// billingpg.ErrNotVisible when it is not there or not theirs.
func (s *Server) receiptFor(ctx context.Context, v *Viewer, id string) (billingpg.Receipt, error) {
	row, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return billingpg.Receipt{}, billingpg.ErrNotVisible
	}
	return s.billing.Receipt(ctx, scope(v), row)
}

// receiptByRef is the receipt of the job Slurm calls ref (55387 or
// 55387_3) on cluster, within the viewer's scope, as receiptFor. When the
// id names several jobs (Slurm keeps a requeued job's id for each attempt,
// and re-uses ids after a reset), the newest submission is shown and the
// rest are returned for the page to link by row id: deterministic, and
// none hidden.
func (s *Server) receiptByRef(ctx context.Context, v *Viewer, cluster, ref string) (billingpg.Receipt, []billingpg.JobMatch, error) {
	jr, ok := slurm.ParseJobRef(ref)
	if !ok {
		return billingpg.Receipt{}, nil, billingpg.ErrNotVisible
	}
	matches, err := s.billing.JobsByRef(ctx, scope(v), cluster, jr)
	if err != nil {
		return billingpg.Receipt{}, nil, err
	}
	if len(matches) == 0 {
		return billingpg.Receipt{}, nil, billingpg.ErrNotVisible
	}
	rc, err := s.billing.Receipt(ctx, scope(v), matches[0].Row)
	return rc, matches[1:], err
}

func (s *Server) receipt(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if rc, others, ok := s.loadReceipt(w, r, v); ok {
		s.render(w, r, http.StatusOK, templates.ReceiptPage(s.page(r, "Receipt"), templates.ReceiptView{Receipt: rc,
			SoFar: s.costSoFar(r.Context(), rc, time.Now()), PDFHref: r.URL.EscapedPath() + "/receipt.pdf", Others: others}))
	}
}

// costSoFar prices a job that has started but not ended (no end time, or
// one still to come) as if it stopped now, at today's card; nil for jobs
// that ended or never started. It is shown, never charged.
func (s *Server) costSoFar(ctx context.Context, rc billingpg.Receipt, now time.Time) *templates.SoFar {
	j := rc.Job
	if j.Start == nil || (j.End != nil && !j.End.After(now)) || !j.Start.Before(now) {
		return nil
	}
	sf := &templates.SoFar{Elapsed: int64(now.Sub(*j.Start) / time.Second)}
	cards, err := s.billing.Cards(ctx)
	if err != nil {
		sf.Error = "The rate cards could not be read just now."
		return sf
	}
	rj := billing.RunningJob{Cluster: j.Cluster, JobID: j.JobID, User: j.User, Account: j.Account, Partition: j.Partition, QOS: j.QOS,
		Start: *j.Start, CPUs: j.CPUs, MemMiB: j.MemMiB, Nodes: 1, CPUTime: time.Duration(j.CPUTimeMicros) * time.Microsecond}
	for _, c := range rc.Charges {
		// A part split attribution already charged is on the receipt above.
		if c.PortionEnd.After(rj.ChargedUntil) {
			rj.ChargedUntil = c.PortionEnd
		}
	}
	if j.GPUs > 0 {
		rj.GPUs = map[string]int64{"": j.GPUs}
	}
	ch, err := billing.Rater{Cards: cards, Rounding: s.rounding}.CostSoFar(rj, now)
	if err != nil {
		var be *billing.Error
		if errors.As(err, &be) {
			sf.Error = "No price so far: " + be.SafeMessage()
		} else {
			sf.Error = "No price so far: " + err.Error()
		}
		return sf
	}
	sf.Charge = ch
	return sf
}

func (s *Server) estimate(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	q := r.URL.Query()
	f := templates.EstimateForm{Partition: q.Get("partition"), CPUs: q.Get("cpus"), Mem: q.Get("mem"), GPUs: q.Get("gpus"),
		Time: q.Get("time"), QOS: q.Get("qos"), Account: q.Get("account"), CPUTime: q.Get("cpu_time"), CPUEfficiency: q.Get("cpu_efficiency"),
		Cluster: q.Get("cluster"), Clusters: s.clusterNames()}
	if !slices.Contains(f.Clusters, f.Cluster) {
		f.Cluster = s.clusters[0].Name // which cluster's card prices it
	}
	if f.QOS == "" {
		f.QOS = "normal"
	}
	if f.CPUs == "" {
		f.CPUs = "1"
	}
	cards, err := s.billing.Cards(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	seen := map[string]bool{}
	if c := cards.InForce(f.Cluster, time.Now()); c != nil {
		for p := range c.Partitions {
			if p != "*" && !seen[p] {
				seen[p] = true
				f.Partitions = append(f.Partitions, p)
			}
		}
	}
	sort.Strings(f.Partitions)
	if len(f.Partitions) == 0 {
		f.Error = "No rate card is in force yet, so nothing can be estimated."
	}
	if f.Time != "" && f.Error == "" {
		ch, err := s.priceEstimate(ctx, cards, f)
		if err != nil {
			var be *billing.Error
			if !errors.As(err, &be) {
				s.serverError(w, r, err)
				return
			}
			f.Error = be.SafeMessage()
		} else {
			f.Result = &ch
		}
	}
	s.render(w, r, http.StatusOK, templates.Estimate(s.page(r, "Estimate"), f))
}

// priceEstimate prices the estimate form's inputs under cards, as the
// page and the API both do; a *billing.Error says what is wrong with them.
func (s *Server) priceEstimate(ctx context.Context, cards billing.Cards, f templates.EstimateForm) (billing.Charge, error) {
	known := false
	if a := strings.TrimSpace(f.Account); a != "" {
		var err error
		if known, err = s.billing.KnownAccount(ctx, a); err != nil {
			return billing.Charge{}, err
		}
	}
	cluster := f.Cluster
	if cluster == "" {
		cluster = s.clusters[0].Name
	} else if !slices.Contains(s.clusterNames(), cluster) {
		return billing.Charge{}, billing.Invalidf("cluster %q: this Tally prices jobs of %s", cluster, strings.Join(s.clusterNames(), ", "))
	}
	return estimateFrom(cards, s.rounding, cluster, f, known)
}

// estimateFrom prices the form; accountKnown is whether Slurm knows the
// account it names.
func estimateFrom(cards billing.Cards, rule billing.Rounding, cluster string, f templates.EstimateForm, accountKnown bool) (billing.Charge, error) {
	in := billing.EstimateInput{Cluster: cluster, Partition: f.Partition, QOS: strings.TrimSpace(f.QOS), Account: strings.TrimSpace(f.Account),
		Typed: true, AccountKnown: accountKnown}
	var err error
	if in.CPUs, err = strconv.ParseInt(strings.TrimSpace(f.CPUs), 10, 64); err != nil || in.CPUs < 1 || in.CPUs > billing.MaxPlausibleCPUs {
		return billing.Charge{}, billing.Invalidf("CPUs: give a whole number from 1 to %d", billing.MaxPlausibleCPUs)
	}
	if in.MemMiB, err = billing.ParseMemory(f.Mem); err != nil {
		return billing.Charge{}, err
	}
	if in.GPUs, err = billing.ParseGPUs(f.GPUs); err != nil {
		return billing.Charge{}, err
	}
	if in.Duration, err = billing.ParseWalltime(f.Time); err != nil {
		return billing.Charge{}, err
	}
	if strings.TrimSpace(f.CPUTime) != "" {
		if in.CPUTime, err = billing.ParseCPUTime(f.CPUTime); err != nil {
			return billing.Charge{}, err
		}
		if in.CPUTime == 0 {
			return billing.Charge{}, billing.Invalidf("CPU time: give more than 0, or leave it empty for full use of the CPUs")
		}
	}
	if in.CPUEfficiencyPPM, err = billing.ParseEfficiency(f.CPUEfficiency); err != nil {
		return billing.Charge{}, err
	}
	return billing.Rater{Cards: cards, Rounding: rule}.Estimate(in)
}

func (s *Server) rateCards(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.renderRateCards(w, r, http.StatusOK, "", nil)
}

// rateDiff is ?from=ID&to=ID: two stored versions side by side (nil when
// not asked for).
func rateDiff(r *http.Request, cards billing.Cards) (*templates.RateDiffView, error) {
	q := r.URL.Query()
	if q.Get("from") == "" && q.Get("to") == "" {
		return nil, nil
	}
	find := func(key string) (*billing.RateCard, error) {
		id, err := strconv.ParseInt(q.Get(key), 10, 64)
		for _, c := range cards {
			if err == nil && c.ID == id {
				return c, nil
			}
		}
		return nil, &inputError{fmt.Sprintf("The %q version to compare is not a stored rate card version: choose one from the list.", key)}
	}
	from, err := find("from")
	if err != nil {
		return nil, err
	}
	to, err := find("to")
	if err != nil {
		return nil, err
	}
	label := func(c *billing.RateCard) string {
		return fmt.Sprintf("%s v%d", c.Name, c.Version)
	}
	d := &templates.RateDiffView{FromID: from.ID, ToID: to.ID, From: label(from), To: label(to)}
	for _, x := range billing.DiffCards(from, to) {
		d.Rows = append(d.Rows, templates.RateDiffRow{Section: x.Section, Subject: x.Subject, Item: x.Item, Old: x.Old, New: x.New, Changed: x.Changed})
		if x.Changed {
			d.Changes++
		}
	}
	return d, nil
}

func (s *Server) renderRateCards(w http.ResponseWriter, r *http.Request, status int, draft string, whatIf *templates.WhatIf) {
	cards, err := s.billing.Cards(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var diff *templates.RateDiffView
	if r.Method == http.MethodGet {
		if diff, err = rateDiff(r, cards); err != nil {
			s.badInput(w, r, err)
			return
		}
	}
	now := time.Now()
	inForce := cards.InForce(s.auth.Cluster, now)
	var rows []templates.RateCardRow
	prev := map[string]int64{} // the last version seen of each card (cards are in version order)
	for _, c := range cards {
		spec, _ := billing.MarshalVersion(c)
		cl := c.Cluster
		if cl == "" {
			cl = "any"
		}
		row := templates.RateCardRow{ID: c.ID, Name: c.Name, Version: c.Version, EffectiveFrom: templates.Timestamp(c.EffectiveFrom),
			Currency: c.Currency, Cluster: cl, InForce: c == inForce, Spec: string(spec), PrevID: prev[c.Name+"\x00"+c.Cluster]}
		for _, e := range c.Table() {
			row.Table = append(row.Table, templates.RateTableRow{Section: e.Section, Subject: e.Subject, Item: e.Item, Value: e.Value})
		}
		prev[c.Name+"\x00"+c.Cluster] = c.ID
		rows = append(rows, row)
	}
	if draft == "" && len(cards) > 0 {
		// The newest version, renumbered and dated tomorrow: edit and submit.
		last := *cards[len(cards)-1]
		last.Version++
		last.EffectiveFrom = time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		b, _ := billing.MarshalVersion(&last)
		draft = string(b)
	}
	s.render(w, r, status, templates.RateCards(s.page(r, "Rate cards"), rows, draft, whatIf, diff))
}

func (s *Server) addRateCard(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	spec := r.PostForm.Get("spec")
	if r.PostForm.Get("action") == "whatif" {
		s.rateWhatIf(w, r, v, spec)
		return
	}
	c, err := s.billing.AddVersion(r.Context(), spec, v.User)
	if err != nil {
		var ve *billing.ValidationError
		var be *billing.Error
		if errors.As(err, &ve) || errors.As(err, &be) {
			s.flash(r, "error", err.Error())
			s.renderRateCards(w, r, http.StatusUnprocessableEntity, spec, nil)
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info("rate card version added", "by", v.User, "card", c.Name, "version", c.Version, "effective_from", c.EffectiveFrom)
	s.recordAdmin(r, v, "rate_card_added", fmt.Sprintf("%s v%d effective %s", c.Name, c.Version, c.EffectiveFrom.Format(time.RFC3339)))
	s.flash(r, "success", fmt.Sprintf("Added %s version %d, effective %s. Open periods are re-rated at the next ingest.",
		c.Name, c.Version, templates.Timestamp(c.EffectiveFrom)))
	http.Redirect(w, r, "/admin/rates", http.StatusSeeOther)
}

// rateWhatIf shows what a draft card would change for last month's jobs,
// without saving anything.
func (s *Server) rateWhatIf(w http.ResponseWriter, r *http.Request, v *Viewer, spec string) {
	ctx := r.Context()
	parts, err := s.billing.KnownPartitions(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	cards, err := billing.ParseRateFile(strings.NewReader(spec), parts)
	if err == nil && len(cards) != 1 {
		err = billing.Invalidf("give exactly one version")
	}
	if err != nil {
		s.flash(r, "error", err.Error())
		s.renderRateCards(w, r, http.StatusUnprocessableEntity, spec, nil)
		return
	}
	from := monthStart(time.Now()).AddDate(0, -1, 0)
	draft := cards[0]
	rows, err := s.billing.WhatIf(ctx, draft, from, from.AddDate(0, 1, 0), s.rounding)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.recordAdmin(r, v, "rate_card_whatif", fmt.Sprintf("%s v%d over %s", draft.Name, draft.Version, from.Format("2006-01")))
	s.renderRateCards(w, r, http.StatusOK, spec, &templates.WhatIf{Period: from.Format("January 2006"), Rows: rows})
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	cur, err := s.currentPeriod(ctx, time.Now().UTC())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	sts, err := s.accountStatements(ctx, v, cur)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	rows := figures{pol}.statementTotals(sts)
	s.render(w, r, http.StatusOK, templates.Accounts(s.pageWith(r, "Accounts", pol), "period "+cur.Name, rows))
}

// accountStatements are the statements of period cur for the accounts the
// viewer may see, largest first: the accounts page and the API's list.
// Coordinators see their accounts only (their own jobs in other accounts
// are on their job list).
func (s *Server) accountStatements(ctx context.Context, v *Viewer, cur billingpg.Period) ([]billing.Statement, error) {
	if cur.ID == 0 {
		return nil, nil
	}
	ps, err := s.billing.Statements(ctx, cur.Name, statementAccounts(v), s.rounding)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ps.Statements, func(i, j int) bool { return ps.Statements[i].Total > ps.Statements[j].Total })
	return ps.Statements, nil
}

// accountView is what the account page and the API show of one account
// for the current period.
type accountView struct {
	Account    string
	Period     billingpg.Period
	Summary    billingpg.Summary // Currency set: the statement's, else the card's
	Users      []billingpg.PeriodBreakdown
	Partitions []billingpg.AccountTotals
	Trend      []billingpg.PeriodTotal
}

// errNotYours is an id the viewer may not see, answered as "not found".
var errNotYours = billing.NotFoundf("not found")

// accountOverview reads one account's figures for period p (the zero
// Period: the current one), if the viewer may see the account (admins,
// finance, its coordinators).
func (s *Server) accountOverview(ctx context.Context, v *Viewer, account, cluster string, p billingpg.Period) (accountView, error) {
	a := accountView{Account: account, Period: p}
	if !scope(v).All && !v.Coordinates(account) {
		return a, errNotYours
	}
	sc := billingpg.Scope{All: true, Cluster: cluster} // authorised above for this one account
	var err error
	if p.Name == "" {
		if a.Period, err = s.currentPeriod(ctx, time.Now().UTC()); err != nil {
			return a, err
		}
	}
	cur := a.Period
	// Usage from the rollup; jobs and charges from the account's statement
	// for the period, read with its people's totals in one go.
	sum, err := s.billing.Summarize(ctx, sc, billingpg.JobFilter{From: cur.Starts, To: cur.Ends, Account: account})
	if err != nil {
		return a, err
	}
	sum.Jobs, sum.Total = 0, 0
	if cur.ID != 0 {
		ps, people, err := s.billing.AccountOverview(ctx, cur, account, cluster, s.rounding)
		if err != nil {
			return a, err
		}
		sum.Jobs, sum.Total, a.Users = int64(ps.Jobs), ps.Total, people
		if ps.Currency != "" {
			sum.Currency = ps.Currency
		}
	}
	if a.Partitions, err = s.billing.TotalsBy(ctx, sc, "partition", billingpg.JobFilter{From: cur.Starts, To: cur.Ends, Account: account}); err != nil {
		return a, err
	}
	if a.Trend, err = s.billing.AccountTrend(ctx, account, 12, s.rounding); err != nil {
		return a, err
	}
	if sum.Currency == "" {
		sum.Currency = s.cardCurrency(ctx)
	}
	a.Summary = sum
	return a, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	account := r.PathValue("account")
	ctx := r.Context()
	cluster, err := s.clusterParam(r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	period, err := s.periodParam(ctx, r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	a, err := s.accountOverview(ctx, v, account, cluster, period)
	if errors.Is(err, errNotYours) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	sc := billingpg.Scope{All: true, Cluster: cluster} // authorised by accountOverview for this one account
	now := time.Now().UTC()
	days, err := s.billing.DailyCosts(ctx, sc, billingpg.JobFilter{From: now.AddDate(0, 0, -30), To: now.Add(time.Hour), Account: account})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	jobs, err := s.billing.Jobs(ctx, sc, billingpg.JobFilter{Account: account, Sort: "end", Desc: true, Limit: 20})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	currency := a.Summary.Currency
	pol := s.policy(r.Context())
	f := figures{pol}
	links := make([]templates.PeriodLink, 0, len(a.Trend))
	for _, t := range a.Trend {
		links = append(links, templates.PeriodLink{Name: t.Period, Closed: t.Status == billing.PeriodClosed})
	}
	budgets, err := s.budgetPanel(ctx, v, account, pol)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	wasteful, err := s.wastefulJobs(ctx, sc, billingpg.JobFilter{Account: account, From: a.Period.Starts, To: a.Period.Ends}, pol)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	wasteQuery := url.Values{"account": {account}, "wasteful": {"1"}, "sort": {"cost"},
		"from": {a.Period.Starts.Format("2006-01-02")}, "to": {a.Period.Ends.AddDate(0, 0, -1).Format("2006-01-02")}}
	if cluster != "" {
		wasteQuery.Set("cluster", cluster)
	}
	month := "period " + a.Period.Name
	trendTitle := "Statement totals per billing period"
	if cluster != "" {
		month += " on cluster " + cluster
		trendTitle += " (every cluster)"
	}
	s.render(w, r, http.StatusOK, templates.AccountDetail(s.pageWith(r, "Account "+account, pol), templates.AccountView{
		Budgets: budgets, Clusters: s.clusterLinks(r, cluster),
		Account: account, Month: month, Summary: f.summary(a.Summary), Users: f.breakdown(a.Users, currency),
		Partitions: f.totals(a.Partitions, currency),
		Chart:      dailyChart(pol, "Charges per day by job end, last 30 days (exact sums, rounded for display)", days, now.AddDate(0, 0, -29), 30, currency),
		Trend:      trendChart(pol, trendTitle, a.Trend, currency),
		Periods:    links, Jobs: jobs,
		PeriodChoice: periodChoice(r, a.Period.Name, a.Trend),
		Wasteful:     templates.WastefulJobs{Jobs: wasteful, Rule: wasteRuleWords(pol, currency), Href: "/jobs?" + wasteQuery.Encode()}}))
}

// periodParam is the billing period ?period= names (the zero Period when
// none is named: the caller's default, the current one).
func (s *Server) periodParam(ctx context.Context, r *http.Request) (billingpg.Period, error) {
	name := r.URL.Query().Get("period")
	if name == "" {
		return billingpg.Period{}, nil
	}
	p, err := s.billing.Period(ctx, name)
	var be *billing.Error
	if errors.As(err, &be) && be.Kind == billing.KindNotFound {
		return p, &inputError{fmt.Sprintf("There is no billing period %q.", name)}
	}
	return p, err
}

// periodChoice links the periods an account page can show, newest first,
// keeping the page's other choices (the cluster).
func periodChoice(r *http.Request, current string, trend []billingpg.PeriodTotal) []templates.ClusterLink {
	out := make([]templates.ClusterLink, 0, len(trend))
	for i := len(trend) - 1; i >= 0; i-- {
		q := r.URL.Query()
		if i == len(trend)-1 {
			q.Del("period") // the newest that has begun: the default
		} else {
			q.Set("period", trend[i].Period)
		}
		href := r.URL.Path
		if e := q.Encode(); e != "" {
			href += "?" + e
		}
		out = append(out, templates.ClusterLink{Label: trend[i].Period, Href: href, Current: trend[i].Period == current})
	}
	return out
}

// wastedListSize is how many wasteful jobs a page lists.
const wastedListSize = 10

// wastefulJobs are the jobs of f that billing.Waste() flags, those that
// wasted most first (billing.Wasted): read by cost among the wasteful
// ones, so the few that wasted most are among the first read.
func (s *Server) wastefulJobs(ctx context.Context, sc billingpg.Scope, f billingpg.JobFilter, pol billing.Policy) ([]templates.WastefulJob, error) {
	f.Wasteful, f.Sort, f.Desc, f.Limit = true, "cost", true, 5*wastedListSize
	rows, err := s.billing.Jobs(ctx, sc, f)
	if err != nil {
		return nil, err
	}
	out := make([]templates.WastefulJob, 0, len(rows))
	for _, j := range rows {
		if j.Total == nil || j.EfficiencyPPM == nil || !billing.Waste().Wasteful(j.EfficiencyPPM, *j.Total) {
			continue
		}
		wasted := billing.Wasted(*j.EfficiencyPPM, *j.Total, s.rounding)
		out = append(out, templates.WastefulJob{Job: j, Wasted: wasted,
			WastedShown: pol.Money(wasted, j.Currency), TotalShown: pol.Money(*j.Total, j.Currency)})
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].Wasted > out[k].Wasted })
	if len(out) > wastedListSize {
		out = out[:wastedListSize]
	}
	return out, nil
}

// currency is the in-force card's currency, for pages without charges.
func (s *Server) currency(r *http.Request) string { return s.cardCurrency(r.Context()) }

// cardCurrency is the in-force card's currency ("" when none is in force).
func (s *Server) cardCurrency(ctx context.Context) string {
	cards, err := s.billing.Cards(ctx)
	if err != nil {
		return ""
	}
	if c := cards.InForce(s.auth.Cluster, time.Now()); c != nil {
		return c.Currency
	}
	return ""
}

// receiptPDF is a job's receipt as a PDF, scoped like the page.
func (s *Server) receiptPDF(w http.ResponseWriter, r *http.Request, v *Viewer) {
	rc, _, ok := s.loadReceipt(w, r, v)
	if !ok {
		return
	}
	j := rc.Job
	label := templates.JobLabel(j.JobID, j.ArrayJobID, j.ArrayTaskID)
	pol := s.policy(r.Context())
	lines := []pdfdoc.Line{
		{Text: "Receipt for job " + label, Bold: true, Size: 16},
		{Text: fmt.Sprintf("%s · user %s · account %s · %s/%s/%s · %s", j.Name, j.User, j.Account, j.Cluster, j.Partition, j.QOS, j.State)},
		{Text: fmt.Sprintf("Submitted %s · started %s · ended %s · elapsed %s", templates.When(&j.Submit), templates.When(j.Start),
			templates.When(j.End), templates.Duration(j.ElapsedSeconds))},
		{Text: fmt.Sprintf("Requested %s · CPU time used %s", templates.Requested(j.CPUs, j.MemMiB, j.GPUs), templates.Duration(j.CPUTimeMicros/1_000_000))},
	}
	for _, c := range rc.Charges {
		head := "Not yet in a billing period"
		if c.Period != "" {
			head = "Period " + c.Period + " (" + c.PeriodStatus + ")"
		}
		lines = append(lines, pdfdoc.Line{Text: head, Bold: true, Gap: true})
		if c.NotCharged != "" {
			lines = append(lines, pdfdoc.Line{Text: "Not charged: " + c.NotCharged})
			continue
		}
		lines = append(lines, pdfdoc.Line{Text: "Rate card " + c.RateCard + "; line amounts exact to the micro-unit.", Size: 8})
		for _, l := range c.Lines {
			name := l.Component
			if l.GPUType != "" {
				name += " (" + l.GPUType + ")"
			}
			lines = append(lines, pdfdoc.Line{Text: fmt.Sprintf("%-16s %14s %-9s x %s  x%s x%s = %s", name, l.Quantity, l.Unit, l.UnitPrice,
				l.QOSMultiplier, l.AccountMultiplier, l.Amount)})
		}
		lines = append(lines, pdfdoc.Line{Text: "Total " + pol.Money(c.Total, j.Currency) + " (rounded for display)", Bold: true},
			pdfdoc.Line{Text: "CPU efficiency " + templates.Percent(c.EfficiencyPPM) + "; idle cores cost " + pol.Money(c.Idle, j.Currency)})
		if c.AccountReason != "" {
			lines = append(lines, pdfdoc.Line{Text: "Account adjustment: " + c.AccountReason})
		}
	}
	download(w, "application/pdf", "tally-receipt-"+label+".pdf")
	if err := s.pdf.Write(w, "Receipt for job "+label, lines); err != nil {
		s.log.Error("receipt pdf", "err", err)
	}
}
