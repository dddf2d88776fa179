package web

import (
	"context"
	"net/http"
	"time"

	"github.com/tally-hpc/tally/internal/audit"
)

// auditLog is the append-only audit trail the handlers write and the
// audit and users pages read.
type auditLog interface {
	RecordAuth(ctx context.Context, user, addr, action, detail string) error
	RecordAdmin(ctx context.Context, actor, action, detail string) error
	ReserveAttempt(ctx context.Context, user, addr string, l audit.Limits) (time.Duration, error)
	Timeline(ctx context.Context, limit, offset int) ([]audit.Event, error)
	People(ctx context.Context, pattern string, limit int) ([]audit.Person, error)
}

// recordAdmin appends an admin or finance action to the audit trail. A
// failure is logged, never hidden: the action itself already happened.
func (s *Server) recordAdmin(r *http.Request, v *Viewer, action, detail string) {
	if err := s.events.RecordAdmin(r.Context(), v.User, action, detail); err != nil {
		s.log.Error("admin audit insert failed", "action", action, "err", err)
	}
}
