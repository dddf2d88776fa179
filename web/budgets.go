package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/templates"
)

// budgetStore is what the budget pages ask of storage.
type budgetStore interface {
	VisibleBudgets(ctx context.Context, sc billingpg.Scope, account string) ([]billing.Budget, error)
	Budget(ctx context.Context, id int64) (billing.Budget, error)
	SetBudget(ctx context.Context, b billing.Budget) (billing.Budget, *billing.Budget, error)
	DeleteBudget(ctx context.Context, id int64) (billing.Budget, error)
	Balances(ctx context.Context, budgets []billing.Budget, running []billing.RunningJob, now time.Time, rule billing.Rounding) ([]billing.Balance, error)
	AlertsFor(ctx context.Context, budgetIDs []int64) ([]billingpg.Alert, error)
	Holds(ctx context.Context, accounts []string) ([]billingpg.Hold, error)
}

// balances works out the balances of the budgets v may see (of one
// account, or all when account is ""), with the running jobs Slurm
// reported at its last live refresh.
func (s *Server) balances(ctx context.Context, v *Viewer, account string, now time.Time) ([]billing.Balance, error) {
	budgets, err := s.billing.VisibleBudgets(ctx, scope(v), account)
	if err != nil || len(budgets) == 0 {
		return nil, err
	}
	var accounts []string
	for _, b := range budgets {
		if !slices.Contains(accounts, b.Account) {
			accounts = append(accounts, b.Account)
		}
	}
	running, err := jobstore.LiveJobs(ctx, s.pool, "", accounts, "")
	if err != nil {
		return nil, err
	}
	return s.billing.Balances(ctx, budgets, running, now, s.rounding)
}

// budgetViews prints balances.
func budgetViews(pol billing.Policy, bals []billing.Balance, alerts map[int64][]templates.AlertRow, holds map[string]string) []templates.BudgetView {
	out := make([]templates.BudgetView, 0, len(bals))
	for _, bal := range bals {
		b := bal.Budget
		owner := b.Owner()
		amount := func(v int64) string { return pol.FormatBudgetAmount(b, v) }
		view := templates.BudgetView{ID: b.ID, Account: b.Account, Owner: owner, Unit: string(b.Unit),
			Range:  b.Starts.Format("2006-01") + " to " + b.Ends.AddDate(0, -1, 0).Format("2006-01"),
			Amount: amount(b.Amount), Charged: amount(bal.Charged), Accruing: amount(bal.Accruing), Remaining: amount(bal.Remaining()),
			UsedPercent: bal.UsedPercent(), Enforce: b.Enforce, Current: b.Covers(bal.At), State: "ok",
			Alerts: alerts[b.ID], Held: holds[b.Account]}
		var crossed []string
		for _, t := range bal.Crossed() {
			crossed = append(crossed, fmt.Sprintf("%d %%", t))
		}
		view.Crossed = strings.Join(crossed, ", ")
		switch {
		case bal.Exhausted():
			view.State = "exhausted"
		case len(crossed) > 0 && bal.UsedPercent() >= 80, bal.RunsOutSoon():
			view.State = "warning"
		}
		switch {
		case !view.Current && bal.At.Before(b.Starts):
			view.Forecast = "Starts " + b.Starts.Format("2 January 2006") + "."
		case !view.Current:
			view.Forecast = "Ended " + b.Ends.Format("2 January 2006") + "."
		case bal.Exhausted():
			view.Forecast = "Spent: nothing is left of this budget."
		case bal.RunsOut != nil:
			view.Forecast = fmt.Sprintf("At the last 14 days' rate (%s), this budget runs out around %s.",
				amount(bal.Recent), bal.RunsOut.Format("2 January 2006"))
		case bal.Recent > 0:
			view.Forecast = fmt.Sprintf("At the last 14 days' rate (%s), this budget lasts to the end of its range.", amount(bal.Recent))
		default:
			view.Forecast = "Nothing was charged in the last 14 days."
		}
		view.Burn = burnChart(pol, b, bal)
		out = append(out, view)
	}
	return out
}

// budgetPanel is the budgets block of the dashboard and account pages.
func (s *Server) budgetPanel(ctx context.Context, v *Viewer, account string, pol billing.Policy) ([]templates.BudgetView, error) {
	bals, err := s.balances(ctx, v, account, time.Now())
	if err != nil || len(bals) == 0 {
		return nil, err
	}
	return s.budgetViewsWithAlerts(ctx, pol, bals)
}

// budgetViewsWithAlerts prints balances with the alerts each budget
// raised and the holds Tally keeps on their accounts in Slurm.
func (s *Server) budgetViewsWithAlerts(ctx context.Context, pol billing.Policy, bals []billing.Balance) ([]templates.BudgetView, error) {
	if len(bals) == 0 {
		return nil, nil
	}
	var ids []int64
	var accounts []string
	for _, b := range bals {
		ids = append(ids, b.Budget.ID)
		if !slices.Contains(accounts, b.Budget.Account) {
			accounts = append(accounts, b.Budget.Account)
		}
	}
	alerts, err := s.billing.AlertsFor(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := map[int64][]templates.AlertRow{}
	for _, a := range alerts {
		rows[a.BudgetID] = append(rows[a.BudgetID], alertRow(a))
	}
	holds, err := s.billing.Holds(ctx, accounts)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	for _, h := range holds {
		if h.LiftedAt == nil && !h.DryRun {
			held[h.Account] = fmt.Sprintf("%s on %s since %s", h.How, h.Cluster, templates.Timestamp(h.HeldAt))
		}
	}
	return budgetViews(pol, bals, rows, held), nil
}

// alertRow says what an alert was and what became of it.
func alertRow(a billingpg.Alert) templates.AlertRow {
	what := fmt.Sprintf("%d %% reached", a.Threshold)
	if a.Kind == billingpg.AlertRunsOut {
		what = fmt.Sprintf("runs out within %d days", a.Threshold)
	}
	row := templates.AlertRow{When: templates.Timestamp(a.CrossedAt), What: what, To: strings.Join(a.Recipients, ", ")}
	var status []string
	switch {
	case a.Skipped != "":
		status = append(status, "not sent: "+a.Skipped)
	default:
		if len(a.Recipients) > 0 {
			if a.EmailSentAt != nil {
				status = append(status, "emailed "+a.EmailSentAt.UTC().Format("15:04 UTC"))
			} else {
				status = append(status, "email pending")
			}
		}
		if a.Webhook {
			if a.WebhookSentAt != nil {
				status = append(status, "webhook posted")
			} else {
				status = append(status, "webhook pending")
			}
		}
		if len(status) == 0 {
			status = append(status, "recorded (no email or webhook configured)")
		}
		if a.LastError != "" && (a.EmailDue() || a.WebhookDue()) {
			status = append(status, fmt.Sprintf("%d attempts, last: %s", a.Attempts, a.LastError))
		}
	}
	row.Status = strings.Join(status, "; ")
	return row
}

func (s *Server) budgetsAdmin(w http.ResponseWriter, r *http.Request, v *Viewer) {
	form := templates.BudgetForm{Unit: string(billing.UnitMoney), Thresholds: "50, 80, 100", RunsOutDays: "0"}
	now := time.Now().UTC()
	form.Starts = now.Format("2006-01")
	form.Ends = now.AddDate(0, 11, 0).Format("2006-01")
	if id := r.URL.Query().Get("edit"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			s.badInput(w, r, &inputError{"The budget to change must be given by its number."})
			return
		}
		b, err := s.billing.Budget(r.Context(), n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		form = budgetForm(s.policy(r.Context()), b)
	}
	s.renderBudgetsAdmin(w, r, v, http.StatusOK, form)
}

// budgetForm fills the form from a stored budget.
func budgetForm(pol billing.Policy, b billing.Budget) templates.BudgetForm {
	f := templates.BudgetForm{ID: b.ID, Account: b.Account, User: b.User, Unit: string(b.Unit), Starts: b.Starts.Format("2006-01"),
		Ends: b.Ends.AddDate(0, -1, 0).Format("2006-01"), RunsOutDays: strconv.Itoa(b.RunsOutDays), Enforce: b.Enforce, Note: b.Note}
	if b.Unit == billing.UnitMoney {
		f.Amount = billing.Micros(b.Amount).String()
	} else {
		f.Amount = billing.FormatHours(b.Amount)
	}
	var ts []string
	for _, t := range b.Thresholds {
		ts = append(ts, strconv.Itoa(t))
	}
	f.Thresholds = strings.Join(ts, ", ")
	return f
}

func (s *Server) renderBudgetsAdmin(w http.ResponseWriter, r *http.Request, v *Viewer, status int, form templates.BudgetForm) {
	ctx := r.Context()
	bals, err := s.balances(ctx, v, "", time.Now())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if form.Accounts, err = s.accountChoices(ctx, ""); err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(ctx)
	views, err := s.budgetViewsWithAlerts(ctx, pol, bals)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, templates.BudgetsAdmin(s.pageWith(r, "Budgets", pol), templates.BudgetsAdminData{Budgets: views, Form: form}))
}

// parseBudgetForm reads the admin's form into a budget.
func parseBudgetForm(r *http.Request, by string) (billing.Budget, templates.BudgetForm, error) {
	f := templates.BudgetForm{Account: strings.TrimSpace(r.PostForm.Get("account")), User: strings.TrimSpace(r.PostForm.Get("user")),
		Unit: r.PostForm.Get("unit"), Amount: strings.TrimSpace(r.PostForm.Get("amount")), Starts: r.PostForm.Get("starts"),
		Ends: r.PostForm.Get("ends"), Thresholds: r.PostForm.Get("thresholds"), RunsOutDays: strings.TrimSpace(r.PostForm.Get("runs_out_days")),
		Enforce: r.PostForm.Get("enforce") != "", Note: strings.TrimSpace(r.PostForm.Get("note"))}
	b := billing.Budget{Account: f.Account, User: f.User, Unit: billing.BudgetUnit(f.Unit), Enforce: f.Enforce, Note: f.Note, UpdatedBy: by}
	if id := r.PostForm.Get("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return b, f, billing.Invalidf("the budget's number %q is not a number", id)
		}
		b.ID, f.ID = n, n
	}
	var err error
	if b.Amount, err = billing.ParseBudgetAmount(b.Unit, f.Amount); err != nil {
		return b, f, err
	}
	month := func(name, v string) (time.Time, error) {
		t, err := time.Parse("2006-01", strings.TrimSpace(v))
		if err != nil {
			return t, billing.Invalidf("%s: give a month such as 2027-01", name)
		}
		return t, nil
	}
	if b.Starts, err = month("first month", f.Starts); err != nil {
		return b, f, err
	}
	last, err := month("last month", f.Ends)
	if err != nil {
		return b, f, err
	}
	b.Ends = last.AddDate(0, 1, 0)
	if b.Thresholds, err = billing.ParseThresholds(f.Thresholds); err != nil {
		return b, f, err
	}
	if f.RunsOutDays != "" {
		if b.RunsOutDays, err = strconv.Atoi(f.RunsOutDays); err != nil {
			return b, f, billing.Invalidf("runs-out warning: give a whole number of days")
		}
	}
	return b, f, nil
}

func (s *Server) saveBudget(w http.ResponseWriter, r *http.Request, v *Viewer) {
	b, form, err := parseBudgetForm(r, v.User)
	if err == nil {
		var old *billing.Budget
		b, old, err = s.billing.SetBudget(r.Context(), b)
		if err == nil {
			s.recordAdmin(r, v, "budget_set", s.policy(r.Context()).DescribeChange(b, old))
			s.flash(r, "success", fmt.Sprintf("Saved the %s budget of %s for %s to %s.", b.Unit, b.Owner(),
				b.Starts.Format("2006-01"), b.Ends.AddDate(0, -1, 0).Format("2006-01")))
			http.Redirect(w, r, "/admin/budgets", http.StatusSeeOther)
			return
		}
	}
	var be *billing.Error
	if errors.As(err, &be) {
		form.Error = be.SafeMessage()
		s.renderBudgetsAdmin(w, r, v, http.StatusUnprocessableEntity, form)
		return
	}
	s.serverError(w, r, err)
}

func (s *Server) deleteBudget(w http.ResponseWriter, r *http.Request, v *Viewer) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	b, err := s.billing.DeleteBudget(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.recordAdmin(r, v, "budget_deleted", s.policy(r.Context()).DescribeChange(b, nil))
	s.flash(r, "success", fmt.Sprintf("Deleted the %s budget of %s.", b.Unit, b.Owner()))
	http.Redirect(w, r, "/admin/budgets", http.StatusSeeOther)
}
