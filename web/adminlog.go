package web

import "net/http"

// recordAdmin appends an admin or finance action to the audit trail. A
// failure is logged, never hidden: the action itself already happened.
func (s *Server) recordAdmin(r *http.Request, v *Viewer, action, detail string) {
	if _, err := s.pool.Exec(r.Context(), `INSERT INTO admin_events (actor, action, detail) VALUES ($1, $2, $3)`, v.User, action, detail); err != nil {
		s.log.Error("admin audit insert failed", "action", action, "err", err)
	}
}
