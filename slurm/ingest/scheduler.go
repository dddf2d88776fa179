package ingest

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// lockKey is the Postgres advisory lock that makes one replica ingest at a
// time ("tally-ingest" as a number).
const lockKey = 0x7461_6c6c_7969

// lockKey is this scheduler's lock: one per cluster, so that the clusters
// ingest side by side while each is ingested by one replica at a time.
// The installation's unnamed cluster keeps the historical key.
func (s *Scheduler) lockKey() int64 {
	if s.in.cfg.Cluster == "" {
		return lockKey
	}
	h := fnv.New64a()
	h.Write([]byte("tally-ingest:" + s.in.cfg.Cluster))
	return int64(h.Sum64() &^ (1 << 63))
}

// Scheduler runs incremental ingest on an interval, and on demand.
type Scheduler struct {
	in       *Ingester
	pool     *pgxpool.Pool
	interval time.Duration
	overlap  time.Duration
	sacctmgr string
	log      *slog.Logger
	kick     chan string
	done     chan struct{}
	// Grace is how long a run in progress may go on after Run's context
	// ends, to commit the window it is in (default 60 s).
	Grace time.Duration
	// Now is the clock (tests set it).
	Now func() time.Time
	// After runs after each successful scheduled ingest (serve re-rates
	// open periods there, so charges follow the records).
	After func(ctx context.Context)

	refreshes *refreshLimiter

	// mu guards what Status reports: when the timer fires next, and since
	// when a run has been going (zero when none is).
	mu      sync.Mutex
	next    time.Time
	running time.Time
}

// Status is what the admin's ingest page shows of a scheduler: this
// replica's plan (another replica may hold the cluster's lock and run it).
type Status struct {
	Interval time.Duration // 0: after the first run, only on demand
	Next     time.Time     // the next scheduled run; zero when none is
	Running  time.Time     // when the run going on started; zero when idle
	Queued   bool          // an on-demand run waits to start
}

// Status says when the scheduler runs next and whether it is running.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Interval: s.interval, Next: s.next, Running: s.running, Queued: len(s.kick) > 0}
}

// plan records the next timer and the run in progress for Status.
func (s *Scheduler) plan(next, running time.Time) {
	s.mu.Lock()
	s.next, s.running = next, running
	s.mu.Unlock()
}

// Bounds of people's own refreshes (sign-in and the refresh button).
const (
	RefreshGap        = 5 * time.Minute // one per person per gap
	MaxRefreshes      = 2               // at once, across everyone
	MaxRefreshDays    = 7               // how far back one reads
	refreshRunTimeout = 2 * time.Minute
)

// NewScheduler returns a scheduler; Run starts it.
func NewScheduler(in *Ingester, pool *pgxpool.Pool, interval, overlap time.Duration, sacctmgr string, log *slog.Logger) *Scheduler {
	return &Scheduler{in: in, pool: pool, interval: interval, overlap: overlap, sacctmgr: sacctmgr, log: log,
		kick: make(chan string, 1), done: make(chan struct{}), Grace: 60 * time.Second, Now: time.Now,
		refreshes: newRefreshLimiter(RefreshGap, MaxRefreshes)}
}

// Trigger asks for a run now (the admin's "ingest now"); it returns false
// when one is already queued.
func (s *Scheduler) Trigger(why string) bool {
	select {
	case s.kick <- why:
		return true
	default:
		return false
	}
}

// Source is how this cluster's records arrive: the configured source
// (auto, rest or sacct) and how often a scheduled run reads it (0: once
// at start, then only when asked).
func (s *Scheduler) Source() (source string, every time.Duration) {
	return s.in.cfg.Source, s.interval
}

// Done is closed when Run has returned.
func (s *Scheduler) Done() <-chan struct{} { return s.done }

// Run ingests every interval until ctx ends. A run in progress then
// finishes the window it is in (within Grace) and stops; Done says when.
func (s *Scheduler) Run(ctx context.Context) {
	defer close(s.done)
	const firstAfter = 5 * time.Second // first run soon after start
	timer := time.NewTimer(firstAfter)
	defer timer.Stop()
	next := s.Now().Add(firstAfter)
	s.plan(next, time.Time{})
	defer s.plan(time.Time{}, time.Time{})
	for {
		trigger := "schedule"
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			next = time.Time{} // fired; reset below
		case trigger = <-s.kick:
			// The timer still runs: an on-demand run does not move the
			// next scheduled one unless it is reset below.
		}
		s.plan(next, s.Now())
		work, cancel := Outliving(ctx, s.Grace)
		err := s.once(work, trigger, ctx.Done())
		cancel()
		switch {
		case errors.Is(err, ErrStopped):
			s.log.Info("ingest stopped after its current window for shutdown")
		case err != nil && !errors.Is(err, context.Canceled):
			s.log.Error("scheduled ingest failed", "err", err)
		}
		if s.interval > 0 {
			timer.Reset(s.interval)
			next = s.Now().Add(s.interval)
		}
		s.plan(next, time.Time{})
	}
}

// Outliving is a context for a run that survives stop by grace, so the
// window in flight can commit during a shutdown.
func Outliving(stop context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(stop))
	go func() {
		select {
		case <-stop.Done():
			select {
			case <-time.After(grace):
				cancel()
			case <-work.Done():
			}
		case <-work.Done():
		}
	}()
	return work, cancel
}

// Once runs one incremental ingest if no other replica is running one:
// from the end of the last window that succeeded, less the overlap (so
// jobs that were running then are read again once they end), to now.
func (s *Scheduler) Once(ctx context.Context, trigger string) error {
	return s.once(ctx, trigger, nil)
}

func (s *Scheduler) once(ctx context.Context, trigger string, stop <-chan struct{}) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	key := s.lockKey()
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return err
	}
	if !got {
		s.log.Info("ingest skipped: another replica is ingesting", "cluster", s.in.cfg.Cluster)
		return nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)

	now := s.Now().UTC().Truncate(time.Second)
	if made, err := jobstore.MakeMonthsAhead(ctx, conn, now); err != nil {
		s.log.Warn("making the coming months' partitions failed; ingest makes them as records arrive", "err", err)
	} else if made > 0 {
		s.log.Info("monthly partitions made", "months", made)
	}
	last, err := jobstore.LastGoodWindow(ctx, conn, s.in.cfg.Cluster)
	if err != nil {
		return err
	}
	from := now.Add(-24 * time.Hour) // the first run ever reads the last day
	if last != nil {
		from = last.Add(-s.overlap)
	}
	if !from.Before(now) {
		from = now.Add(-s.overlap)
	}
	sum, err := s.in.Run(ctx, from, now, Options{Trigger: trigger, Stop: stop})
	s.log.Info("ingest finished", "trigger", trigger, "from", from, "to", now, "windows", sum.Windows,
		"new", sum.Counts.New, "changed", sum.Counts.Changed, "unchanged", sum.Counts.Unchanged, "rejected", sum.Counts.Rejected, "took", sum.Took)
	if err != nil {
		return err
	}
	if na, nc, err := s.in.SyncAssociations(ctx, s.sacctmgr); err != nil {
		s.log.Warn("association sync failed", "err", err)
	} else {
		s.log.Info("associations synced", "associations", na, "coordinators", nc)
	}
	// What runs now, for budgets' accruing cost; before After, which works
	// out budgets. A failure keeps the last known list and fails nothing.
	if s.in.client != nil && s.in.creds != nil {
		if ls, err := s.in.RefreshLive(ctx, s.Now().UTC()); err != nil {
			s.log.Warn("live job list refresh failed; budgets count the last known running jobs", "err", err)
		} else {
			s.log.Info("live job list refreshed", "jobs", ls.Jobs, "ended", ls.Ended, "rejected", len(ls.Rejects))
		}
	}
	if s.After != nil {
		s.After(ctx)
	}
	return nil
}

// RefreshUser re-reads a person's own records of the last days with their
// own token, right after they sign in, so what they see is current.
// At most MaxRefreshDays are read, one refresh per person per RefreshGap
// and MaxRefreshes at once; beyond that a *RefreshLimitError says why.
func (s *Scheduler) RefreshUser(ctx context.Context, cred slurm.Credential, days int) error {
	if s.in.client == nil {
		return nil
	}
	days = min(max(days, 1), MaxRefreshDays)
	done, err := s.refreshes.start(cred.User, s.Now())
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, refreshRunTimeout)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	_, err = s.in.Run(ctx, now.Add(-time.Duration(days)*24*time.Hour), now, Options{
		Trigger: "login", Creds: StaticCredential{Cred: cred}, OnlyUser: cred.User, Source: "rest",
	})
	return err
}
