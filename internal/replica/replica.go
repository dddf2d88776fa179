// Package replica sends page reads to a PostgreSQL streaming replica
// while it keeps up, and to the primary when it falls too far behind or
// is away. Stores keep their primary pool and ask Pool(ctx, primary) for
// the reads a page may take from the replica; the web layer decides per
// request (Reading) whether it may.
package replica

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Router measures how far the replica is behind the primary and hands out
// contexts that read from it.
type Router struct {
	primary, replica *pgxpool.Pool
	// away: a replica further behind than this is treated as absent.
	away time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	samples []sample  // the primary's WAL insert position over time, oldest first
	asOf    time.Time // the replica holds everything committed before this
	usable  bool
	reason  string // why not usable, for the log when it changes
}

type sample struct {
	at  time.Time
	lsn uint64
}

// keepSamples bounds memory: at one sample a second, ten minutes.
const keepSamples = 600

// New returns a router that reads from replica until it is more than away
// behind. It trusts nothing until Measure has run once.
func New(primary, replica *pgxpool.Pool, away time.Duration, log *slog.Logger) *Router {
	return &Router{primary: primary, replica: replica, away: away, log: log, reason: "not measured yet"}
}

// Run measures every interval until ctx ends.
func (r *Router) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Measure compares the replica's replayed WAL position with the primary's
// recent insert positions (not its write position, which can trail a
// commit made with synchronous_commit off). The lag is the age of the newest primary position the
// replica has replayed: it has everything committed before then. Comparing
// positions, not the replica's last replay time, also catches a replica
// that lost its connection to the primary and so "replays" nothing new.
func (r *Router) Measure(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	var primaryLSN string
	if err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&primaryLSN); err != nil {
		// Without the primary there is no telling how stale the replica
		// is; pages fail on the primary anyway.
		r.set(time.Time{}, false, "primary unreachable")
		return
	}
	p, err := parseLSN(primaryLSN)
	if err != nil {
		r.set(time.Time{}, false, err.Error())
		return
	}
	r.mu.Lock()
	r.samples = append(r.samples, sample{at: now, lsn: p})
	if len(r.samples) > keepSamples {
		r.samples = r.samples[len(r.samples)-keepSamples:]
	}
	r.mu.Unlock()

	var replayed *string
	if err := r.replica.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&replayed); err != nil {
		r.set(time.Time{}, false, "replica unreachable")
		return
	}
	if replayed == nil {
		r.set(time.Time{}, false, "the read database is not a replica (no replayed WAL)")
		return
	}
	rp, err := parseLSN(*replayed)
	if err != nil {
		r.set(time.Time{}, false, err.Error())
		return
	}
	// The replica holds everything the primary had committed at the
	// latest sample whose position it has replayed: its data are as old
	// as that sample.
	r.mu.Lock()
	var asOf time.Time
	for _, s := range r.samples {
		if s.lsn <= rp {
			asOf = s.at
		}
	}
	r.mu.Unlock()
	if asOf.IsZero() {
		r.set(time.Time{}, false, "replica behind anything remembered")
		return
	}
	if lag := now.Sub(asOf); lag > r.away {
		r.set(asOf, false, fmt.Sprintf("replica %s behind", lag.Round(time.Second)))
		return
	}
	r.set(asOf, true, "")
}

func (r *Router) set(asOf time.Time, usable bool, reason string) {
	r.mu.Lock()
	changed := usable != r.usable
	r.asOf, r.usable, r.reason = asOf, usable, reason
	r.mu.Unlock()
	if changed && r.log != nil {
		if usable {
			r.log.Info("pages read from the replica again", "lag", time.Since(asOf).Round(time.Millisecond))
		} else {
			r.log.Warn("pages read from the primary", "why", reason)
		}
	}
}

// Status says how far behind the replica is now and whether pages may
// use it.
func (r *Router) Status() (lag time.Duration, usable bool) {
	asOf, usable := r.state()
	if !usable {
		return 0, false
	}
	return time.Since(asOf), true
}

// state is the time up to which the replica holds everything, as last
// measured, and whether pages may use it.
func (r *Router) state() (asOf time.Time, usable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asOf, r.usable
}

// Reading returns ctx marked to read from the replica when that shows
// everything written up to notBefore (a person's last write: they must see
// it), with the replica's lag; otherwise ctx unchanged and ok false.
func (r *Router) Reading(ctx context.Context, notBefore time.Time) (_ context.Context, lag time.Duration, ok bool) {
	asOf, usable := r.state()
	if !usable || !asOf.After(notBefore) {
		return ctx, 0, false
	}
	return context.WithValue(ctx, poolKey{}, r.replica), time.Since(asOf), true
}

type poolKey struct{}

// Pool is the pool a read should use: the replica when the request may
// read from it, else primary.
func Pool(ctx context.Context, primary *pgxpool.Pool) *pgxpool.Pool {
	if p, ok := ctx.Value(poolKey{}).(*pgxpool.Pool); ok {
		return p
	}
	return primary
}

// FromReplica says whether ctx reads from the replica.
func FromReplica(ctx context.Context) bool {
	_, ok := ctx.Value(poolKey{}).(*pgxpool.Pool)
	return ok
}

// parseLSN reads PostgreSQL's "16/B374D848" form.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("odd WAL position %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("odd WAL position %q", s)
	}
	return h<<32 | l, nil
}
