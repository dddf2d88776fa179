package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// throttleWait says how long a sign-in for user from addr must wait. The
// counts live in Postgres, so every replica enforces the same limits. A
// successful sign-in clears the user's count; the address's count only
// ages out, so one address cannot walk through many user names.
func (s *Server) throttleWait(ctx context.Context, user, addr string) (time.Duration, error) {
	window := s.auth.FailureWindow
	var worst time.Duration
	checks := []struct {
		max   int
		query string
		arg   string
	}{
		{s.auth.MaxFailuresPerUser, `SELECT at FROM auth_events
			WHERE action = 'login_failed' AND lower(username) = lower($1) AND at > now() - $2::interval
			  AND at > coalesce((SELECT max(at) FROM auth_events WHERE action = 'login' AND lower(username) = lower($1)), '-infinity')
			ORDER BY at DESC OFFSET $3 LIMIT 1`, user},
		{s.auth.MaxFailuresPerAddress, `SELECT at FROM auth_events
			WHERE action = 'login_failed' AND address = $1 AND at > now() - $2::interval
			ORDER BY at DESC OFFSET $3 LIMIT 1`, addr},
	}
	for _, c := range checks {
		if c.max <= 0 {
			continue
		}
		// The max-th most recent failure: once it ages out of the window,
		// fewer than max remain and sign-in is allowed again.
		var at time.Time
		err := s.pool.QueryRow(ctx, c.query, c.arg, fmt.Sprintf("%d seconds", int(window.Seconds())), c.max-1).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("login throttle: %w", err)
		}
		if wait := time.Until(at.Add(window)); wait > worst {
			worst = wait
		}
	}
	return worst, nil
}

// recordAuth appends to the audit trail. A failure to record is logged, not
// shown: the person's sign-in should not fail because of it.
func (s *Server) recordAuth(ctx context.Context, user, addr, action, detail string) {
	if len(user) > 256 {
		user = user[:256]
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_events (username, address, action, detail) VALUES ($1, $2, $3, $4)`,
		user, addr, action, detail)
	if err != nil {
		s.log.Error("audit insert failed", "action", action, "err", err)
	}
}
