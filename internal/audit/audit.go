// Package audit keeps Tally's append-only audit trail in PostgreSQL:
// sign-ins (and the failures the throttle counts) and what admins and
// finance did. The database refuses to change or delete a row
// (migrations 00002 and 00005).
package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and appends audit events.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// RecordAuth appends a sign-in event (login, login_failed,
// login_throttled, logout).
func (s *Store) RecordAuth(ctx context.Context, user, addr, action, detail string) error {
	if len(user) > 256 {
		user = user[:256]
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO auth_events (username, address, action, detail) VALUES ($1, $2, $3, $4)`,
		user, addr, action, detail); err != nil {
		return fmt.Errorf("recording %s: %w", action, err)
	}
	return nil
}

// RecordAdmin appends an admin or finance action.
func (s *Store) RecordAdmin(ctx context.Context, actor, action, detail string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO admin_events (actor, action, detail) VALUES ($1, $2, $3)`, actor, action, detail); err != nil {
		return fmt.Errorf("recording %s: %w", action, err)
	}
	return nil
}

// Limits are the sign-in throttle's: at most MaxPerUser attempts for one
// user name (counted since their last sign-in) and MaxPerAddress from one
// client address within Window. 0 turns a limit off.
type Limits struct {
	MaxPerUser    int
	MaxPerAddress int
	Window        time.Duration
}

// ReserveAttempt decides whether user may try a password from addr now
// and, if so, records the attempt before the password is checked. Check
// and record happen under one lock per user name and per address: when
// they were apart, 30 parallel attempts all passed the count before any
// failure was written, and PAM checked 15 passwords against a limit of 5.
// A refused attempt records nothing and returns how long to wait.
func (s *Store) ReserveAttempt(ctx context.Context, user, addr string, l Limits) (wait time.Duration, err error) {
	if len(user) > 256 {
		user = user[:256]
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// User before address, always: no two attempts wait on each other in a circle.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tally-login-user:' || lower($1), 0)),
				pg_advisory_xact_lock(hashtextextended('tally-login-addr:' || $2, 0))`, user, addr); err != nil {
			return err
		}
		window := fmt.Sprintf("%d seconds", int(l.Window.Seconds()))
		for _, c := range []struct {
			max   int
			query string
			key   string
		}{
			{l.MaxPerUser, `SELECT at FROM auth_events
				WHERE action = 'login_attempt' AND lower(username) = lower($1) AND at > now() - $2::interval
				  AND at > coalesce((SELECT max(at) FROM auth_events WHERE action = 'login' AND lower(username) = lower($1)), '-infinity')
				ORDER BY at DESC OFFSET $3 LIMIT 1`, user},
			// An address's attempts count unless the same person signed in
			// from there afterwards: a lab behind one NAT address is not
			// punished for its members' typos once they get in.
			{l.MaxPerAddress, `SELECT a.at FROM auth_events a
				WHERE a.action = 'login_attempt' AND a.address = $1 AND a.at > now() - $2::interval
				  AND NOT EXISTS (SELECT 1 FROM auth_events ok WHERE ok.action = 'login' AND lower(ok.username) = lower(a.username)
				                  AND ok.address = a.address AND ok.at >= a.at)
				ORDER BY a.at DESC OFFSET $3 LIMIT 1`, addr},
		} {
			if c.max <= 0 {
				continue
			}
			// The max-th most recent attempt: once it ages out of the
			// window, fewer than max remain and sign-in is allowed again.
			var at time.Time
			err := tx.QueryRow(ctx, c.query, c.key, window, c.max-1).Scan(&at)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if w := time.Until(at.Add(l.Window)); w > wait {
				wait = w
			}
		}
		if wait > 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_events (username, address, action) VALUES ($1, $2, 'login_attempt')`, user, addr)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sign-in throttle: %w", err)
	}
	return wait, nil
}

// Event is one line of the audit timeline.
type Event struct {
	At       time.Time
	Username string
	Action   string
	Address  string
	Detail   string
}

// Timeline lists sign-in and admin events together, newest first.
func (s *Store) Timeline(ctx context.Context, limit, offset int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, username, action, address, detail FROM (
			SELECT at, id, username, action, address, detail FROM auth_events WHERE action <> 'login_attempt'
			UNION ALL
			SELECT at, id, actor, action, '', detail FROM admin_events) e
		ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("audit timeline: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		return e, r.Scan(&e.At, &e.Username, &e.Action, &e.Address, &e.Detail)
	})
	if err != nil {
		return nil, fmt.Errorf("audit timeline: %w", err)
	}
	return out, nil
}

// Person is someone Tally knows: from Slurm's associations or a sign-in.
type Person struct {
	Name       string
	Accounts   string // space-separated
	LastSignIn *time.Time
}

// People lists the people whose name matches a LIKE pattern, by name.
func (s *Store) People(ctx context.Context, pattern string, limit int) ([]Person, error) {
	rows, err := s.pool.Query(ctx, `WITH people AS (
			SELECT username FROM slurm_associations
			UNION SELECT username FROM auth_events WHERE action = 'login')
		SELECT p.username,
			coalesce((SELECT string_agg(DISTINCT a.account, ' ' ORDER BY a.account) FROM slurm_associations a WHERE a.username = p.username), ''),
			(SELECT max(at) FROM auth_events e WHERE e.username = p.username AND e.action = 'login')
		FROM people p WHERE p.username ILIKE $1 ORDER BY p.username LIMIT $2`, pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Person, error) {
		var p Person
		return p, r.Scan(&p.Name, &p.Accounts, &p.LastSignIn)
	})
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	return out, nil
}
