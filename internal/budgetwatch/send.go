package budgetwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// Outbox is the store's side of sending.
type Outbox interface {
	SendOne(ctx context.Context, now time.Time, send func(context.Context, billingpg.Alert) billingpg.Outcome) (bool, error)
}

// Sender sends the recorded alerts that are due, by email and webhook,
// until each is sent: a failure is tried again later, backing off from
// FirstRetry to MaxRetry.
type Sender struct {
	Outbox  Outbox
	Mailer  *Mailer  // nil: email is off (alerts with recipients wait)
	Webhook *Webhook // nil: the webhook is off
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now
	// FirstRetry and MaxRetry bound the back-off (0: 30 s and 1 h).
	FirstRetry, MaxRetry time.Duration
}

// SendReport says what one round of sending did.
type SendReport struct {
	Sent   int // alerts whose every channel is now sent
	Failed int // alerts that failed and wait for their retry
}

// SendDue sends every alert due now, one at a time, each in its own
// transaction; at most max alerts (0: 1000) per call, so that a round
// ends.
func (s *Sender) SendDue(ctx context.Context, max int) (SendReport, error) {
	var r SendReport
	if max <= 0 {
		max = 1000
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	for range max {
		var failed bool
		found, err := s.Outbox.SendOne(ctx, now(), func(ctx context.Context, a billingpg.Alert) billingpg.Outcome {
			o := s.send(ctx, a, now())
			failed = o.Err != ""
			return o
		})
		if err != nil {
			return r, err
		}
		if !found {
			return r, nil
		}
		if failed {
			r.Failed++
		} else {
			r.Sent++
		}
	}
	return r, nil
}

// send delivers the channels of a that are still due.
func (s *Sender) send(ctx context.Context, a billingpg.Alert, now time.Time) billingpg.Outcome {
	var o billingpg.Outcome
	var problems []string
	if a.EmailDue() {
		err := s.email(ctx, a, now)
		var rej *RejectedError
		switch {
		case err == nil:
			o.EmailSent = true
		case errors.As(err, &rej):
			// Sent to the others; the refused addresses stay in
			// last_error for the page, and are not tried again.
			o.EmailSent = true
			o.Note = "email sent; " + err.Error()
			s.log().Warn("budget alert: some recipients refused", "alert", a.ID, "account", a.Account, "err", err)
		default:
			problems = append(problems, "email: "+err.Error())
		}
	}
	if a.WebhookDue() {
		if err := s.webhook(ctx, a); err != nil {
			problems = append(problems, "webhook: "+err.Error())
		} else {
			o.WebhookSent = true
		}
	}
	if len(problems) > 0 {
		o.Err = strings.Join(problems, "; ")
		o.Retry = now.Add(s.backoff(a.Attempts + 1))
		s.log().Warn("budget alert not sent; will retry", "alert", a.ID, "account", a.Account, "attempt", a.Attempts+1,
			"retry_at", o.Retry, "err", o.Err)
	} else {
		s.log().Info("budget alert sent", "alert", a.ID, "account", a.Account, "kind", a.Kind, "threshold", a.Threshold,
			"email", o.EmailSent, "webhook", o.WebhookSent)
	}
	return o
}

func (s *Sender) email(ctx context.Context, a billingpg.Alert, now time.Time) error {
	if s.Mailer == nil {
		return errors.New("no SMTP server is set (TALLY_SMTP_ADDR)")
	}
	return s.Mailer.Send(ctx, Message{ID: MessageID(a.ID, s.Mailer.From), To: a.Recipients, Subject: a.Subject, Body: a.Body, Date: now})
}

func (s *Sender) webhook(ctx context.Context, a billingpg.Alert) error {
	if s.Webhook == nil {
		return errors.New("no webhook URL is set (TALLY_ALERT_WEBHOOK_URL)")
	}
	return s.Webhook.Post(ctx, a.ID, a.Payload)
}

// backoff is the wait before the nth attempt: FirstRetry doubling, at
// most MaxRetry.
func (s *Sender) backoff(n int) time.Duration {
	first, max := s.FirstRetry, s.MaxRetry
	if first <= 0 {
		first = 30 * time.Second
	}
	if max <= 0 {
		max = time.Hour
	}
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// MessageID is the same for every delivery of one alert, so that a
// message sent again after a crash between the server's acceptance and
// Tally's record of it is recognisably the same message (mail systems
// and clients drop duplicates by it).
func MessageID(alertID int64, from string) string {
	domain := "tally.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	return fmt.Sprintf("tally-budget-alert-%d@%s", alertID, domain)
}

func (s *Sender) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
