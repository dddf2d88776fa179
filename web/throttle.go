package web

import (
	"context"
	"time"
)

// throttleWait says how long a sign-in for user from addr must wait. The
// counts live in Postgres, so every replica enforces the same limits. A
// successful sign-in clears the user's count; the address's count only
// ages out, so one address cannot walk through many user names.
func (s *Server) throttleWait(ctx context.Context, user, addr string) (time.Duration, error) {
	window := s.auth.FailureWindow
	var worst time.Duration
	for _, c := range []struct {
		max       int
		byAddress bool
		key       string
	}{{s.auth.MaxFailuresPerUser, false, user}, {s.auth.MaxFailuresPerAddress, true, addr}} {
		if c.max <= 0 {
			continue
		}
		// The max-th most recent failure: once it ages out of the window,
		// fewer than max remain and sign-in is allowed again.
		at, ok, err := s.events.NthFailure(ctx, c.byAddress, c.key, window, c.max)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
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
	if err := s.events.RecordAuth(ctx, user, addr, action, detail); err != nil {
		s.log.Error("audit insert failed", "action", action, "err", err)
	}
}
