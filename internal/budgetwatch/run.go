package budgetwatch

import (
	"context"
	"log/slog"
	"time"
)

// Runner runs checks and sending in one goroutine, so that a check after
// an ingest and one on the interval never overlap within a process.
type Runner struct {
	Watcher   *Watcher
	Sender    *Sender
	Interval  time.Duration // between checks; 0: only when kicked
	SendEvery time.Duration // between sending rounds, for retries; 0: 30 s
	Log       *slog.Logger
	kick      chan struct{}
}

// NewRunner returns a runner; Run starts it.
func NewRunner(w *Watcher, s *Sender, interval time.Duration, log *slog.Logger) *Runner {
	return &Runner{Watcher: w, Sender: s, Interval: interval, Log: log, kick: make(chan struct{}, 1)}
}

// Kick asks for a check as soon as the current one (if any) ends: after
// an ingest has rated new jobs. It never blocks.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default: // one is pending already
	}
}

// Run checks at once, then on every interval and kick, and sends due
// alerts after each check and every SendEvery, until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	send := r.SendEvery
	if send <= 0 {
		send = 30 * time.Second
	}
	sendTick := time.NewTicker(send)
	defer sendTick.Stop()
	var checkTick <-chan time.Time
	if r.Interval > 0 {
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		checkTick = t.C
	}
	r.round(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkTick:
			r.round(ctx, true)
		case <-r.kick:
			r.round(ctx, true)
		case <-sendTick.C:
			r.round(ctx, false)
		}
	}
}

func (r *Runner) round(ctx context.Context, check bool) {
	if check && r.Watcher != nil {
		rep, err := r.Watcher.Check(ctx)
		if err != nil {
			r.Log.Error("budget check failed", "err", err)
		} else if rep.Alerts > 0 || len(rep.Held) > 0 || len(rep.Lifted) > 0 || rep.Errors > 0 {
			r.Log.Info("budget check", "budgets", rep.Budgets, "alerts", rep.Alerts, "held", rep.Held, "lifted", rep.Lifted, "errors", rep.Errors)
		}
	}
	if r.Sender != nil {
		if _, err := r.Sender.SendDue(ctx, 0); err != nil && ctx.Err() == nil {
			r.Log.Error("sending budget alerts failed", "err", err)
		}
	}
}
