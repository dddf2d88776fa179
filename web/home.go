package web

import (
	"net/http"

	"github.com/tally-hpc/tally/templates"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if v := s.viewer(r); v != nil {
		// The finance office starts from every account's statements, not
		// from a dashboard of jobs they do not run. An admin who is also
		// in finance keeps the dashboard: the menu has Finance.
		if v.Has(RoleFinance) && !v.Has(RoleAdmin) {
			s.finance(w, r, v)
			return
		}
		s.dashboard(w, r, v)
		return
	}
	s.render(w, r, http.StatusOK, templates.Home(s.page(r, "")))
}
