// Package budgetwatch watches budgets: it records an alert when a
// budget crosses a threshold or is forecast to run out (an outbox row,
// in the transaction that sees it), sends the recorded alerts by email
// and webhook until they are sent, and, when enforcement is on, holds
// accounts whose budget is spent in Slurm and lifts the hold when the
// budget grows or a new range starts.
package budgetwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// Store is what the watcher reads and records.
type Store interface {
	Budgets(ctx context.Context, accounts []string) ([]billing.Budget, error)
	Balances(ctx context.Context, budgets []billing.Budget, running []billing.RunningJob, now time.Time, rule billing.Rounding) ([]billing.Balance, error)
	Cards(ctx context.Context) (billing.Cards, error)
	RecordAlerts(ctx context.Context, b billing.Budget, at time.Time, drafts []billingpg.AlertDraft, to billingpg.Recipients, webhook bool) ([]billingpg.Alert, error)
	ActiveHolds(ctx context.Context) ([]billingpg.Hold, error)
	RecordHold(ctx context.Context, h billingpg.Hold) (billingpg.Hold, error)
	ForgetHold(ctx context.Context, id int64) error
	RecordLift(ctx context.Context, id int64) error
}

// Limits changes an account's submit limit in Slurm (slurm.AccountLimits).
type Limits interface {
	SubmitLimit(ctx context.Context, cluster, account string) (string, error)
	SetSubmitLimit(ctx context.Context, cluster, account, value string) error
}

// Auditor appends to the admin audit log (audit.Store).
type Auditor interface {
	RecordAdmin(ctx context.Context, actor, action, detail string) error
}

// Enforcement is what Tally does in Slurm when a budget is spent.
type Enforcement string

// Enforcement modes.
const (
	EnforceOff    Enforcement = "off"     // nothing
	EnforceDryRun Enforcement = "dry-run" // log, audit and record what it would do
	EnforceOn     Enforcement = "on"      // hold and lift accounts
)

// ParseEnforcement reads TALLY_BUDGET_ENFORCE.
func ParseEnforcement(s string) (Enforcement, error) {
	switch e := Enforcement(s); e {
	case EnforceOff, EnforceDryRun, EnforceOn:
		return e, nil
	case "":
		return EnforceOff, nil
	}
	return "", fmt.Errorf("budget enforcement %q: want off, dry-run or on", s)
}

// Actor is who the audit log says held or lifted an account.
const Actor = "tally"

// Watcher checks budgets. Check is safe to run from several replicas at
// once: alerts are recorded once by the database, holds once per account.
type Watcher struct {
	Store Store
	Audit Auditor
	// Running reads the jobs Slurm runs now, for the accruing cost
	// (nil: none are counted).
	Running  func(ctx context.Context) ([]billing.RunningJob, error)
	Rounding billing.Rounding
	// Recipients resolves who an alert is emailed to when it is recorded
	// (nil: email is off, and alerts are recorded without recipients).
	Recipients billingpg.Recipients
	Webhook    bool   // alerts are posted to the webhook
	BaseURL    string // the portal, for links in alerts
	Enforce    Enforcement
	Cluster    string // where holds are placed
	Slurm      Limits
	Log        *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Report says what one check did.
type Report struct {
	Budgets int      // budgets whose range covers now
	Alerts  int      // alerts newly recorded
	Held    []string // accounts held (or, in a dry run, that would be)
	Lifted  []string // accounts whose hold was lifted
	Errors  int      // budgets or holds that failed (logged)
}

// Check works out the balance of every budget whose range covers now,
// records the alerts it calls for and, with enforcement, holds and lifts
// accounts.
func (w *Watcher) Check(ctx context.Context) (Report, error) {
	var r Report
	now := time.Now().UTC()
	if w.Now != nil {
		now = w.Now().UTC()
	}
	all, err := w.Store.Budgets(ctx, nil)
	if err != nil {
		return r, err
	}
	var current []billing.Budget
	for _, b := range all {
		if b.Covers(now) {
			current = append(current, b)
		}
	}
	r.Budgets = len(current)
	var running []billing.RunningJob
	runningOK := true
	if w.Running != nil {
		if running, err = w.Running(ctx); err != nil {
			// Alerts may come late without the running jobs, never
			// wrongly; but a hold is not lifted on a balance that leaves
			// them out.
			runningOK = false
			w.log().Warn("budget check: running jobs unknown, counting charged jobs only", "err", err)
		}
	}
	bals, err := w.Store.Balances(ctx, current, running, now, w.Rounding)
	if err != nil {
		return r, err
	}
	cards, err := w.Store.Cards(ctx)
	if err != nil {
		return r, err
	}
	pol := billing.NewPolicy(w.Rounding, cards)
	for _, bal := range bals {
		drafts := Drafts(bal, pol, w.BaseURL)
		if len(drafts) == 0 {
			continue
		}
		recorded, err := w.Store.RecordAlerts(ctx, bal.Budget, now, drafts, w.Recipients, w.Webhook)
		if err != nil {
			r.Errors++
			w.log().Error("budget check: recording alerts failed", "budget", bal.Budget.ID, "account", bal.Budget.Account, "err", err)
			continue
		}
		for _, a := range recorded {
			r.Alerts++
			w.log().Info("budget alert recorded", "alert", a.ID, "budget", a.BudgetID, "account", a.Account, "kind", a.Kind,
				"threshold", a.Threshold, "recipients", len(a.Recipients), "skipped", a.Skipped)
		}
	}
	if err := w.enforce(ctx, bals, runningOK, &r); err != nil {
		return r, err
	}
	return r, nil
}

// enforce holds the accounts with a spent, enforced budget and lifts
// Tally's holds on the others. Only whole-account budgets hold: a cap on
// one person does not stop the rest of the account.
func (w *Watcher) enforce(ctx context.Context, bals []billing.Balance, runningOK bool, r *Report) error {
	holds, err := w.Store.ActiveHolds(ctx)
	if err != nil {
		return err
	}
	if w.Enforce != EnforceOn {
		for _, h := range holds {
			if !h.DryRun {
				w.log().Warn("budget enforcement is "+string(w.enforcement())+", but Tally still holds an account in Slurm; "+
					"set TALLY_BUDGET_ENFORCE=on to lift it when its budget allows, or lift it with sacctmgr",
					"account", h.Account, "cluster", h.Cluster, "held_at", h.HeldAt)
			}
		}
	}
	if w.Enforce != EnforceOn && w.Enforce != EnforceDryRun {
		return nil
	}
	dry := w.Enforce == EnforceDryRun
	spent := map[string]billing.Balance{}
	var order []string
	for _, bal := range bals {
		b := bal.Budget
		if !b.Enforce || b.User != "" || !bal.Exhausted() {
			continue
		}
		if _, ok := spent[b.Account]; !ok {
			order = append(order, b.Account)
			spent[b.Account] = bal
		}
	}
	active := map[string]billingpg.Hold{}
	for _, h := range holds {
		if h.DryRun == dry && h.Cluster == w.Cluster {
			active[h.Account] = h
		}
	}
	for _, account := range order {
		if _, held := active[account]; held {
			continue
		}
		if err := w.hold(ctx, spent[account], dry); err != nil {
			r.Errors++
			w.log().Error("budget enforcement: hold failed", "account", account, "cluster", w.Cluster, "err", err)
			continue
		}
		r.Held = append(r.Held, account)
	}
	for account, h := range active {
		if _, still := spent[account]; still {
			continue
		}
		if !runningOK {
			continue // the balance may be missing what runs now
		}
		if err := w.lift(ctx, h); err != nil {
			r.Errors++
			w.log().Error("budget enforcement: lift failed; will retry", "account", account, "cluster", h.Cluster, "err", err)
			continue
		}
		r.Lifted = append(r.Lifted, account)
	}
	return nil
}

func (w *Watcher) hold(ctx context.Context, bal billing.Balance, dry bool) error {
	b := bal.Budget
	if w.Cluster == "" {
		return errors.New("no cluster is set (TALLY_CLUSTER): holds are placed on one cluster")
	}
	reason := fmt.Sprintf("budget %d (%s %s to %s) spent: %d %% used", b.ID, b.Unit, b.Starts.Format("2006-01-02"),
		b.Ends.Format("2006-01-02"), bal.UsedPercent())
	h := billingpg.Hold{BudgetID: &b.ID, Cluster: w.Cluster, Account: b.Account, How: "GrpSubmitJobs=0", Reason: reason, DryRun: dry}
	if !dry {
		prev, err := w.Slurm.SubmitLimit(ctx, w.Cluster, b.Account)
		if err != nil {
			return err
		}
		h.Previous = prev
	}
	// Recorded first: a crash after Slurm's change still leaves the hold
	// Tally's own, to lift.
	h, err := w.Store.RecordHold(ctx, h)
	var be *billing.Error
	if errors.As(err, &be) && be.Kind == billing.KindConflict {
		return nil // another replica holds it
	}
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("account %s on %s: set %s (was GrpSubmitJobs=%s); %s", b.Account, w.Cluster, h.How, orNone(h.Previous), reason)
	if dry {
		detail = "dry run, Slurm unchanged: would hold " + detail
		w.log().Warn("budget enforcement (dry run): would hold the account", "account", b.Account, "cluster", w.Cluster, "reason", reason)
	} else {
		if err := w.Slurm.SetSubmitLimit(ctx, w.Cluster, b.Account, "0"); err != nil {
			if ferr := w.Store.ForgetHold(ctx, h.ID); ferr != nil {
				w.log().Error("budget enforcement: forgetting a hold Slurm refused", "hold", h.ID, "err", ferr)
			}
			return err
		}
		w.log().Warn("budget enforcement: account held in Slurm", "account", b.Account, "cluster", w.Cluster, "reason", reason)
	}
	w.audit(ctx, "budget_hold", detail)
	return nil
}

func (w *Watcher) lift(ctx context.Context, h billingpg.Hold) error {
	detail := fmt.Sprintf("account %s on %s: GrpSubmitJobs=%s restored (hold %d of %s)", h.Account, h.Cluster, orNone(h.Previous),
		h.ID, h.HeldAt.UTC().Format(time.RFC3339))
	if h.DryRun {
		detail = "dry run, Slurm unchanged: would lift " + detail
	} else if err := w.Slurm.SetSubmitLimit(ctx, h.Cluster, h.Account, h.Previous); err != nil {
		return err
	}
	// A crash here leaves the hold recorded and lifted in Slurm: the next
	// check lifts it again, which changes nothing.
	if err := w.Store.RecordLift(ctx, h.ID); err != nil {
		return err
	}
	w.log().Info("budget enforcement: hold lifted", "account", h.Account, "cluster", h.Cluster, "dry_run", h.DryRun)
	w.audit(ctx, "budget_lift", detail)
	return nil
}

func (w *Watcher) audit(ctx context.Context, action, detail string) {
	if w.Audit == nil {
		return
	}
	if err := w.Audit.RecordAdmin(ctx, Actor, action, detail); err != nil {
		w.log().Error("budget enforcement: audit failed", "action", action, "detail", detail, "err", err)
	}
}

func (w *Watcher) enforcement() Enforcement {
	if w.Enforce == "" {
		return EnforceOff
	}
	return w.Enforce
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func (w *Watcher) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}
