package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
)

// AlertStore is the budget alerts' outbox: an alert is recorded in the
// transaction that sees its threshold crossed, then sent from here until
// it is sent, however many restarts come between.
type AlertStore struct {
	pool *pgxpool.Pool
}

// Alert kinds.
const (
	AlertThreshold = "threshold" // Threshold is a percentage of the budget
	AlertRunsOut   = "runs_out"  // Threshold is the warning's days
)

// AlertDraft is an alert as worked out at crossing, before it is recorded.
type AlertDraft struct {
	Kind      string
	Threshold int
	Subject   string
	Body      string
	Payload   []byte // the webhook's JSON
}

// Alert is a recorded alert and how its sending went.
type Alert struct {
	ID           int64
	BudgetID     int64
	Kind         string
	Threshold    int
	BudgetAmount int64
	Account      string
	Subject      string
	Body         string
	Recipients   []string // email goes to these; none: no email
	Webhook      bool     // the webhook is posted
	Payload      []byte
	// Skipped says why the alert is recorded but not sent ("" when it is).
	Skipped       string
	CrossedAt     time.Time
	EmailSentAt   *time.Time
	WebhookSentAt *time.Time
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}

// EmailDue says the email is still to be sent.
func (a Alert) EmailDue() bool {
	return a.Skipped == "" && len(a.Recipients) > 0 && a.EmailSentAt == nil
}

// WebhookDue says the webhook is still to be posted.
func (a Alert) WebhookDue() bool { return a.Skipped == "" && a.Webhook && a.WebhookSentAt == nil }

// Pending says something of the alert is still to be sent.
func (a Alert) Pending() bool { return a.EmailDue() || a.WebhookDue() }

const alertColumns = `id, budget_id, kind, threshold, budget_amount, account, subject, body, recipients, webhook, payload, skipped,
	crossed_at, email_sent_at, webhook_sent_at, attempts, next_attempt_at, last_error`

func scanAlert(row pgx.Row) (Alert, error) {
	var a Alert
	err := row.Scan(&a.ID, &a.BudgetID, &a.Kind, &a.Threshold, &a.BudgetAmount, &a.Account, &a.Subject, &a.Body, &a.Recipients,
		&a.Webhook, &a.Payload, &a.Skipped, &a.CrossedAt, &a.EmailSentAt, &a.WebhookSentAt, &a.Attempts, &a.NextAttemptAt, &a.LastError)
	return a, err
}

// SkippedForHigher is why a lower threshold crossed in the same check as
// a higher one is not sent: one email saying "80 % used" says "50 %" too.
const SkippedForHigher = "a higher threshold was reached in the same check"

// Recipients turns an account's coordinators and PI field (and, for a
// cap, the person capped) into email addresses.
type Recipients func(coordinators []string, pi, capped string) []string

// RecordAlerts records the drafts of one budget in one transaction: each
// once (a draft whose budget, kind, threshold and amount is recorded
// already is left as it is), with the recipients of the moment. Of the
// threshold drafts newly recorded, only the highest is sent; the lower
// ones are recorded as skipped. The budget's row is locked and its amount
// compared, so an alert is never recorded against an amount that a top-up
// replaced meanwhile (the next check sees the new one). It returns the
// alerts newly recorded, crossed (and due to be sent) at at.
func (s *AlertStore) RecordAlerts(ctx context.Context, b billing.Budget, at time.Time, drafts []AlertDraft, to Recipients, webhook bool) (_ []Alert, err error) {
	defer annotate(&err, "recording the alerts of budget %d", b.ID)
	if len(drafts) == 0 {
		return nil, nil
	}
	var out []Alert
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var amount int64
		err := tx.QueryRow(ctx, `SELECT amount FROM budgets WHERE id = $1 FOR SHARE`, b.ID).Scan(&amount)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && amount != b.Amount) {
			return nil // deleted or changed since its balance was worked out
		}
		if err != nil {
			return err
		}
		var recipients []string
		if to != nil {
			var coordinators []string
			var pi string
			if err := tx.QueryRow(ctx, `SELECT
					coalesce((SELECT array_agg(DISTINCT username ORDER BY username) FROM slurm_coordinators WHERE account = $1), '{}'),
					coalesce((SELECT pi FROM account_details WHERE account = $1), '')`, b.Account).Scan(&coordinators, &pi); err != nil {
				return err
			}
			recipients = to(coordinators, pi, b.User)
		}
		if recipients == nil {
			recipients = []string{}
		}
		// Highest threshold first: the first one recorded is sent.
		ordered := append([]AlertDraft(nil), drafts...)
		for i := 1; i < len(ordered); i++ {
			for j := i; j > 0 && ordered[j].Threshold > ordered[j-1].Threshold; j-- {
				ordered[j], ordered[j-1] = ordered[j-1], ordered[j]
			}
		}
		sentThreshold := false
		for _, d := range ordered {
			skipped := ""
			if d.Kind == AlertThreshold && sentThreshold {
				skipped = SkippedForHigher
			}
			payload := d.Payload
			if len(payload) == 0 {
				payload = []byte("{}")
			}
			a, err := scanAlert(tx.QueryRow(ctx, `INSERT INTO budget_alerts (budget_id, kind, threshold, budget_amount, account,
					subject, body, recipients, webhook, payload, skipped, crossed_at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
				ON CONFLICT (budget_id, kind, threshold, budget_amount) DO NOTHING
				RETURNING `+alertColumns, b.ID, d.Kind, d.Threshold, b.Amount, b.Account, d.Subject, d.Body, recipients, webhook, payload, skipped, at))
			if errors.Is(err, pgx.ErrNoRows) {
				continue // recorded before
			}
			if err != nil {
				return err
			}
			if d.Kind == AlertThreshold {
				sentThreshold = true
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Outcome is what one attempt at sending an alert achieved.
type Outcome struct {
	EmailSent   bool
	WebhookSent bool
	// Err is what failed ("" when nothing did); with it, the alert is
	// tried again at Retry.
	Err   string
	Retry time.Time
	// Note is kept as the last error of an alert sent with a caveat
	// (some recipients refused).
	Note string
}

// SendOne takes one alert that is due at now, locked so that no other
// sender (another replica) takes it meanwhile (FOR UPDATE SKIP LOCKED),
// runs send on it and stores the outcome in the same transaction. It says
// whether there was an alert to send. A crash between send and commit
// leaves the alert unsent, to be sent again: the email's Message-ID and
// the webhook's alert id are the same, so the receiver can tell.
func (s *AlertStore) SendOne(ctx context.Context, now time.Time, send func(context.Context, Alert) Outcome) (found bool, err error) {
	defer annotate(&err, "sending a budget alert")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM budget_alerts
			WHERE skipped = '' AND ((email_sent_at IS NULL AND cardinality(recipients) > 0) OR (webhook AND webhook_sent_at IS NULL))
			  AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		o := send(ctx, a)
		failed := o.Err != ""
		next, lastError := a.NextAttemptAt, o.Note
		if failed {
			next, lastError = o.Retry, o.Err
		}
		_, err = tx.Exec(ctx, `UPDATE budget_alerts SET
				email_sent_at = CASE WHEN $2 AND email_sent_at IS NULL THEN $5 ELSE email_sent_at END,
				webhook_sent_at = CASE WHEN $3 AND webhook_sent_at IS NULL THEN $5 ELSE webhook_sent_at END,
				attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END,
				last_error = $6, next_attempt_at = $7
			WHERE id = $1`, a.ID, o.EmailSent, o.WebhookSent, failed, now, lastError, next)
		return err
	})
	return found, err
}

// AlertsFor lists the alerts of budgets, newest first: what was sent,
// when and to whom, and what is pending or failing with its last error.
func (s *AlertStore) AlertsFor(ctx context.Context, budgetIDs []int64) (_ []Alert, err error) {
	defer annotate(&err, "listing budget alerts")
	if len(budgetIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM budget_alerts WHERE budget_id = ANY($1)
		ORDER BY crossed_at DESC, id DESC`, budgetIDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r) })
}
