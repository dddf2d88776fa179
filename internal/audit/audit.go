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

// NthFailure is when the n-th most recent failed sign-in within window
// happened, for a user name (counted since their last sign-in) or, with
// byAddress, for a client address; ok is false when there are fewer.
func (s *Store) NthFailure(ctx context.Context, byAddress bool, key string, window time.Duration, n int) (at time.Time, ok bool, err error) {
	query := `SELECT at FROM auth_events
		WHERE action = 'login_failed' AND lower(username) = lower($1) AND at > now() - $2::interval
		  AND at > coalesce((SELECT max(at) FROM auth_events WHERE action = 'login' AND lower(username) = lower($1)), '-infinity')
		ORDER BY at DESC OFFSET $3 LIMIT 1`
	if byAddress {
		query = `SELECT at FROM auth_events
			WHERE action = 'login_failed' AND address = $1 AND at > now() - $2::interval
			ORDER BY at DESC OFFSET $3 LIMIT 1`
	}
	err = s.pool.QueryRow(ctx, query, key, fmt.Sprintf("%d seconds", int(window.Seconds())), n-1).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return at, false, nil
	}
	if err != nil {
		return at, false, fmt.Errorf("counting failed sign-ins: %w", err)
	}
	return at, true, nil
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
			SELECT at, id, username, action, address, detail FROM auth_events
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
