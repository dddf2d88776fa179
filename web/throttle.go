package web

import (
	"context"
	"time"

	"github.com/tally-hpc/tally/internal/audit"
)

// throttleWait says how long a sign-in for user from addr must wait and,
// when it need not, records the attempt (atomically with the check). The
// counts live in Postgres, so every replica enforces the same limits. A
// successful sign-in clears the user's count; the address's count only
// ages out, so one address cannot walk through many user names.
func (s *Server) throttleWait(ctx context.Context, user, addr string) (time.Duration, error) {
	return s.events.ReserveAttempt(ctx, user, addr, audit.Limits{
		MaxPerUser: s.auth.MaxFailuresPerUser, MaxPerAddress: s.auth.MaxFailuresPerAddress, Window: s.auth.FailureWindow})
}

// recordAuth appends to the audit trail. A failure to record is logged, not
// shown: the person's sign-in should not fail because of it.
func (s *Server) recordAuth(ctx context.Context, user, addr, action, detail string) {
	if err := s.events.RecordAuth(ctx, user, addr, action, detail); err != nil {
		s.log.Error("audit insert failed", "action", action, "err", err)
	}
}
