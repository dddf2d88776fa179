package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// periodStore is what the period, statement and account-details pages
// read and change.
type periodStore interface {
	Period(ctx context.Context, name string) (billing.Period, error)
	PeriodAt(ctx context.Context, t time.Time) (billing.Period, bool, error)
	PeriodSummaries(ctx context.Context, accounts []string, rule billing.Rounding) ([]billingpg.PeriodSummary, error)
	Statements(ctx context.Context, name string, accounts []string, rule billing.Rounding) (billing.PeriodStatements, error)
	ScopeStatements(ctx context.Context, p billing.Period, sc billingpg.Scope, rule billing.Rounding) (billing.PeriodStatements, error)
	UserPeriodSummaries(ctx context.Context, user string, rule billing.Rounding) ([]billingpg.PeriodSummary, error)
	UserStatement(ctx context.Context, name, user string, accounts []string, rule billing.Rounding) (billingpg.UserStatement, error)
	Breakdown(ctx context.Context, name, by string, accounts []string, rule billing.Rounding) ([]billingpg.PeriodBreakdown, error)
	AccountOverview(ctx context.Context, p billing.Period, account, cluster string, rule billing.Rounding) (billing.PeriodStatements, []billingpg.PeriodBreakdown, error)
	Anomalies(ctx context.Context, name string) ([]billingpg.Anomaly, error)
	PreviewChanges(ctx context.Context, ps billing.PeriodStatements) ([]billingpg.PreviewChange, *time.Time, error)
	RecordPreview(ctx context.Context, ps billing.PeriodStatements, actor string) error
	ClosePeriod(ctx context.Context, name, by string, rule billing.Rounding) (billing.PeriodStatements, error)
	Adjustments(ctx context.Context, period string, accounts []string) ([]billingpg.Adjustment, error)
	AddAdjustment(ctx context.Context, a billingpg.Adjustment) (int64, error)
	AccountDetailsAll(ctx context.Context) ([]billingpg.AccountDetails, error)
	SaveAccountDetails(ctx context.Context, d billingpg.AccountDetails, by string) error
	AccountTrend(ctx context.Context, account string, n int, rule billing.Rounding) ([]billingpg.PeriodTotal, error)
	LastClosedPeriod(ctx context.Context) (billing.Period, bool, error)
	History(ctx context.Context, n int) (billingpg.AccountHistory, error)
}

// exportStore writes the finance CSVs.
type exportStore interface {
	WriteAccountSummary(ctx context.Context, w io.Writer, name string, accounts []string, rule billing.Rounding) error
	WriteJobLines(ctx context.Context, w io.Writer, name string, accounts []string) error
	WriteAdjustments(ctx context.Context, w io.Writer, period string, accounts []string) error
}

// statementAccounts is nil (all) for admins and finance, else the accounts
// the viewer coordinates.
func statementAccounts(v *Viewer) []string {
	if v.Has(RoleAdmin) || v.Has(RoleFinance) {
		return nil
	}
	if v.Accounts == nil {
		return []string{}
	}
	return v.Accounts
}

// periodScope is the accounts of a period the viewer may see
// (statementAccounts), narrowed to account when one is asked for;
// errNotYours for an account that is not theirs.
func periodScope(v *Viewer, account string) ([]string, error) {
	scope := statementAccounts(v)
	if account == "" {
		return scope, nil
	}
	if scope != nil && !contains(scope, account) {
		return nil, errNotYours
	}
	return []string{account}, nil
}

func (s *Server) periods(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ps, err := s.billing.PeriodSummaries(r.Context(), statementAccounts(v), s.rounding)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	s.render(w, r, http.StatusOK, templates.Periods(s.pageWith(r, "Periods", pol), figures{pol}.periodRows(ps, s.currency(r))))
}

func (s *Server) periodPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.renderPeriod(w, r, v, http.StatusOK)
}

func (s *Server) renderPeriod(w http.ResponseWriter, r *http.Request, v *Viewer, status int) {
	ctx := r.Context()
	name := r.PathValue("name")
	// ?account=X narrows the page to one account's statement and usage.
	scope, err := periodScope(v, r.URL.Query().Get("account"))
	if err != nil {
		s.notFound(w, r)
		return
	}
	ps, err := s.billing.Statements(ctx, name, scope, s.rounding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	adj, err := s.billing.Adjustments(ctx, name, scope)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	f := figures{pol}
	currency := ps.Currency
	if currency == "" {
		currency = s.currency(r)
	}
	view := templates.PeriodView{Period: f.periodHead(ps, currency), Statements: f.statements(ps.Statements), Adjustments: adjustmentRows(adj),
		CanClose: v.Has(RoleAdmin), CanAdjust: v.Has(RoleAdmin), CanExport: true}
	if !ps.Period.Closed() && !ps.Period.Closable(time.Now()) {
		view.ClosableAfter = templates.Timestamp(ps.Period.ClosableAt())
	}
	for _, b := range []struct {
		by  string
		dst *[]templates.BreakdownRow
	}{{"user", &view.ByUser}, {"partition", &view.ByPartition}, {"qos", &view.ByQOS}, {"cluster", &view.ByCluster}} {
		rows, err := s.billing.Breakdown(ctx, name, b.by, scope, s.rounding)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		*b.dst = f.breakdown(rows, currency)
	}
	// Looking changes nothing: the preview is compared with the last one
	// recorded, and recording one is a POST of its own.
	if !ps.Period.Closed() && (v.Has(RoleAdmin) || v.Has(RoleFinance)) {
		anomalies, err := s.billing.Anomalies(ctx, name)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		changes, at, err := s.billing.PreviewChanges(ctx, ps)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		view.Anomalies, view.Changes, view.CanRecord = anomalyRows(anomalies, ps.Period), f.changes(changes, currency), true
		if at != nil {
			view.LastPreview = templates.Timestamp(*at)
		}
	}
	s.render(w, r, status, templates.PeriodPage(s.pageWith(r, "Period "+ps.Period.Name, pol), view))
}

// recordPreview stores an open period's preview totals, so the next look
// at the period shows which accounts changed since.
func (s *Server) recordPreview(w http.ResponseWriter, r *http.Request, v *Viewer) {
	name := r.PathValue("name")
	ps, err := s.billing.Statements(r.Context(), name, nil, s.rounding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ps.Period.Closed() {
		s.flash(r, "error", name+" is closed: its statements are final, there is no preview to record.")
		http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
		return
	}
	if err := s.billing.RecordPreview(r.Context(), ps, v.User); err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	s.recordAdmin(r, v, "period_preview", fmt.Sprintf("%s: %d statements, total %s", name, len(ps.Statements), pol.Money(ps.Total, ps.Currency)))
	s.flash(r, "success", fmt.Sprintf("Recorded the preview of %s (total %s).", name, pol.Money(ps.Total, ps.Currency)))
	http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
}

// adjustmentsPage is the form to add a credit or debit, first, then the
// period's adjustments.
func (s *Server) adjustmentsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.renderAdjustments(w, r, http.StatusOK, templates.AdjustmentForm{})
}

// renderAdjustments draws the adjustments page with form as it was
// submitted (its values and its per-field errors) and status.
func (s *Server) renderAdjustments(w http.ResponseWriter, r *http.Request, status int, form templates.AdjustmentForm) {
	name := r.PathValue("name")
	p, err := s.billing.Period(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	adj, err := s.billing.Adjustments(r.Context(), name, nil)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	view := templates.AdjustmentsView{Period: p.Name, Closed: p.Closed(), Form: form, Adjustments: adjustmentRows(adj)}
	if !p.Closed() {
		// What was sent stays chosen beside its error, not lost.
		if view.Form.Accounts, err = s.accountChoices(r.Context(), form.Account); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.render(w, r, status, templates.AdjustmentsPage(s.page(r, "Adjustments "+p.Name), view))
}

func (s *Server) addAdjustment(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	f := templates.AdjustmentForm{Account: r.PostForm.Get("account"), User: r.PostForm.Get("user"), JobID: r.PostForm.Get("job_id"),
		Amount: r.PostForm.Get("amount"), Reason: r.PostForm.Get("reason"), Errors: map[string]string{}}
	name := r.PathValue("name")
	a := billingpg.Adjustment{Period: name, Account: f.Account, User: f.User, Reason: f.Reason, Author: v.User}
	// Both fields the form itself reads are checked before the store is
	// asked, so each wrong one is marked at once.
	amt, err := billing.ParseMicros(f.Amount)
	if err != nil {
		f.Errors["amount"] = err.Error()
	}
	a.Amount = amt
	a.Job = strings.TrimSpace(f.JobID) // Slurm's id: 55387, or 55387_3 for an array task
	if len(f.Errors) > 0 {
		s.renderAdjustments(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	id, err := s.billing.AddAdjustment(r.Context(), a)
	var be *billing.Error
	if errors.As(err, &be) && be.Kind != billing.KindNotFound {
		if be.Field != "" {
			f.Errors[be.Field] = be.SafeMessage()
		} else {
			f.Error = be.SafeMessage()
		}
		s.renderAdjustments(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.recordAdmin(r, v, "adjustment_added", fmt.Sprintf("#%d %s %s %s: %s", id, name, a.Account, a.Amount, a.Reason))
	s.flash(r, "success", fmt.Sprintf("Adjustment of %s added to %s.", a.Amount, a.Account))
	http.Redirect(w, r, "/periods/"+name+"/adjustments", http.StatusSeeOther)
}

// accountChoices is what an admin's forms (adjustments, budgets) offer as
// the account: every account Tally knows, and keep when it is set and not
// among them (a value sent back with its error stays chosen).
func (s *Server) accountChoices(ctx context.Context, keep string) ([]string, error) {
	details, err := s.billing.AccountDetailsAll(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range details {
		out = append(out, d.Account)
		if d.Account == keep {
			keep = ""
		}
	}
	if keep != "" {
		out = append(out, keep)
	}
	return out, nil
}

func (s *Server) accountsAdmin(w http.ResponseWriter, r *http.Request, v *Viewer) {
	all, err := s.billing.AccountDetailsAll(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.AccountsAdmin(s.page(r, "Account details"), all))
}

func (s *Server) saveAccount(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d := billingpg.AccountDetails{Account: r.PathValue("account"), DisplayName: r.PostForm.Get("display_name"), PI: r.PostForm.Get("pi"),
		ContactEmail: r.PostForm.Get("contact_email"), CostCentre: r.PostForm.Get("cost_centre"), PONumber: r.PostForm.Get("po_number"),
		Active: r.PostForm.Get("active") == "1"}
	if err := s.billing.SaveAccountDetails(r.Context(), d, v.User); err != nil {
		var be *billing.Error
		if errors.As(err, &be) {
			s.flash(r, "error", d.Account+": "+be.SafeMessage())
			http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.recordAdmin(r, v, "account_details_saved", d.Account)
	s.flash(r, "success", "Saved "+d.Account+".")
	http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
}

func (s *Server) closePeriod(w http.ResponseWriter, r *http.Request, v *Viewer) {
	name := r.PathValue("name")
	anomalies, err := s.billing.Anomalies(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(anomalies) > 0 && r.FormValue("ack") != "1" {
		s.flash(r, "error", fmt.Sprintf("%s has %d anomalies: review them and tick the box to close anyway.", name, len(anomalies)))
		http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
		return
	}
	ps, err := s.billing.ClosePeriod(r.Context(), name, v.User, s.rounding)
	var be *billing.Error
	if errors.As(err, &be) {
		s.flash(r, "error", be.SafeMessage())
		http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	ack := ""
	for _, a := range anomalies {
		ack += fmt.Sprintf("; acknowledged %s (%d)", a.Kind, a.Count)
	}
	s.recordAdmin(r, v, "period_closed", fmt.Sprintf("%s: %d statements, total %s%s", name, len(ps.Statements), s.policy(r.Context()).Money(ps.Total, ps.Currency), ack))
	s.flash(r, "success", fmt.Sprintf("Closed %s: %d statements, numbered and frozen.", name, len(ps.Statements)))
	http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
}

func (s *Server) periodCSV(what string) func(http.ResponseWriter, *http.Request, *Viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *Viewer) {
		name := r.PathValue("name")
		if _, err := s.billing.Period(r.Context(), name); err != nil {
			s.fail(w, r, err)
			return
		}
		// The download starts with its first byte: an export refused
		// before writing anything (job lines of an archived month) is
		// answered with its message, not an empty file.
		out := &startOnWrite{w: w, start: func() { csvDownload(w, r, "tally-"+name+"-"+what+".csv") }}
		var err error
		switch what {
		case "accounts":
			err = s.billing.WriteAccountSummary(r.Context(), out, name, statementAccounts(v), s.rounding)
		case "adjustments":
			err = s.billing.WriteAdjustments(r.Context(), out, name, statementAccounts(v))
		default:
			err = s.billing.WriteJobLines(r.Context(), out, name, statementAccounts(v))
		}
		if err != nil && !out.started {
			s.fail(w, r, err)
			return
		}
		if err != nil {
			s.log.Error("period export failed", "period", name, "what", what, "err", err)
			return
		}
		if v.Has(RoleFinance) || v.Has(RoleAdmin) {
			s.recordAdmin(r, v, "export", name+" "+what)
		}
	}
}

// statementPDF is one account's statement of a period as a PDF.
func (s *Server) statementPDF(w http.ResponseWriter, r *http.Request, v *Viewer) {
	name, account := r.PathValue("name"), r.URL.Query().Get("account")
	scope := statementAccounts(v)
	if scope != nil && !contains(scope, account) {
		s.notFound(w, r)
		return
	}
	ps, err := s.billing.Statements(r.Context(), name, []string{account}, s.rounding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(ps.Statements) == 0 {
		s.notFound(w, r)
		return
	}
	st := ps.Statements[0]
	d := st.Details // frozen into the statement at its close
	pol := s.policy(r.Context())
	title := "Statement " + st.Number
	if st.Number == "" {
		title = "Statement preview (period open)"
	}
	lines := []pdfdoc.Line{
		{Text: title, Bold: true, Size: 16},
		{Text: fmt.Sprintf("Period %s: %s to %s (UTC)", ps.Period.Name, ps.Period.Starts.UTC().Format("2006-01-02"), ps.Period.Ends.UTC().Format("2006-01-02"))},
		{Text: "Account " + account + " " + d.DisplayName, Bold: true, Gap: true},
		{Text: templates.Plural(int64(st.Jobs), "job", "jobs") + " charged"},
	}
	for _, x := range []struct{ k, v string }{{"PI", d.PI}, {"Cost centre", d.CostCentre}, {"PO", d.PONumber}} {
		if x.v != "" {
			lines = append(lines, pdfdoc.Line{Text: x.k + ": " + x.v})
		}
	}
	// A cluster column only when the lines come from more than one
	// cluster, as on the page.
	byCluster := len(st.Clusters()) > 1
	head := fmt.Sprintf("%-14s %8s %18s %14s", "Component", "Jobs", "Exact", "Amount")
	if byCluster {
		head = fmt.Sprintf("%-12s ", "Cluster") + head
	}
	lines = append(lines, pdfdoc.Line{Text: head, Bold: true, Gap: true})
	for _, l := range st.Lines {
		row := fmt.Sprintf("%-14s %8d %18s %14s", l.Component, l.Jobs, l.Exact, pol.Format(l.Amount, st.Currency))
		if byCluster {
			row = fmt.Sprintf("%-12s ", l.Cluster) + row
		}
		lines = append(lines, pdfdoc.Line{Text: row})
	}
	lines = append(lines,
		pdfdoc.Line{Text: "Total " + pol.Money(st.Total, st.Currency), Bold: true, Size: 12, Gap: true},
		pdfdoc.Line{Text: "Each line is its jobs' exact amounts summed and rounded once to the minor unit; the total adds the rounded lines.", Size: 8, Gap: true},
		pdfdoc.Line{Text: "SHA-256 " + st.SHA256, Size: 8})
	download(w, "application/pdf", "tally-"+name+"-"+account+".pdf")
	if err := s.pdf.Write(w, title, lines); err != nil {
		s.log.Error("statement pdf", "err", err)
	}
}

// safeFileName keeps a download name to letters, digits, dot, dash and
// underscore.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
}

// userStatementAccounts says which accounts of user's charges the viewer
// may see: all of them for the person themselves, admins and finance; the
// coordinated ones for a coordinator; ok is false for anyone else.
func userStatementAccounts(v *Viewer, user string) (accounts []string, ok bool) {
	switch {
	case user == v.SlurmUser || v.Has(RoleAdmin) || v.Has(RoleFinance):
		return nil, true
	case v.Has(RoleCoordinator):
		return v.Accounts, true
	}
	return nil, false
}

func (s *Server) myStatements(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ps, err := s.billing.UserPeriodSummaries(r.Context(), v.SlurmUser, s.rounding)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	f := figures{pol}
	own := f.periodRows(ps, s.currency(r))
	if v.Has(RoleFinance) {
		// Finance's "Statements" are every account's, period by period;
		// their own share comes after, and only if they ran anything.
		all, err := s.billing.PeriodSummaries(r.Context(), nil, s.rounding)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if !hasJobs(ps) {
			own = nil
		}
		s.render(w, r, http.StatusOK, templates.AllStatements(s.pageWith(r, "Statements", pol), f.periodRows(all, s.currency(r)), v.SlurmUser, own))
		return
	}
	s.render(w, r, http.StatusOK, templates.UserStatements(s.pageWith(r, "Your statements", pol), v.SlurmUser, own))
}

// hasJobs says whether any period has a job charged.
func hasJobs(ps []billingpg.PeriodSummary) bool {
	for _, p := range ps {
		if p.Jobs > 0 {
			return true
		}
	}
	return false
}

func (s *Server) userStatement(w http.ResponseWriter, r *http.Request, v *Viewer) {
	user := r.PathValue("user")
	pdf := strings.HasSuffix(user, ".pdf")
	user = strings.TrimSuffix(user, ".pdf")
	accounts, ok := userStatementAccounts(v, user)
	if !ok {
		s.notFound(w, r)
		return
	}
	us, err := s.billing.UserStatement(r.Context(), r.PathValue("period"), user, accounts, s.rounding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !pdf {
		pol := s.policy(r.Context())
		s.render(w, r, http.StatusOK, templates.UserStatementPage(s.pageWith(r, "Statement "+user, pol), figures{pol}.userStatement(us)))
		return
	}
	lines := []pdfdoc.Line{
		{Text: "Statement for " + us.User + ", period " + us.Period.Name, Bold: true, Size: 16},
		{Text: fmt.Sprintf("%s to %s (UTC), %s; %s, %s core-hours, %s GPU-hours", us.Period.Starts.UTC().Format("2006-01-02"),
			us.Period.Ends.UTC().Format("2006-01-02"), us.Period.Status, templates.Plural(int64(us.Jobs), "job", "jobs"), us.CoreHours, us.GPUHours)},
	}
	byCluster := len(billing.LineClusters(us.Lines)) > 1
	head := fmt.Sprintf("%-12s %6s %16s %12s", "Component", "Jobs", "Exact", "Amount")
	if byCluster {
		head = fmt.Sprintf("%-12s ", "Cluster") + head
	}
	lines = append(lines, pdfdoc.Line{Text: fmt.Sprintf("%-14s ", "Account") + head, Bold: true, Gap: true})
	pol := s.policy(r.Context())
	for _, l := range us.Lines {
		row := fmt.Sprintf("%-12s %6d %16s %12s", l.Component, l.Jobs, l.Exact, pol.Format(l.Amount, us.Currency))
		if byCluster {
			row = fmt.Sprintf("%-12s ", l.Cluster) + row
		}
		lines = append(lines, pdfdoc.Line{Text: fmt.Sprintf("%-14s ", l.Account) + row})
	}
	lines = append(lines, pdfdoc.Line{Text: "Total " + pol.Money(us.Total, us.Currency), Bold: true, Size: 12, Gap: true})
	download(w, "application/pdf", "tally-"+us.Period.Name+"-"+user+".pdf")
	if err := s.pdf.Write(w, "Statement for "+user, lines); err != nil {
		s.log.Error("user statement pdf", "err", err)
	}
}
