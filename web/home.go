package web

import (
	"net/http"

	"github.com/tally-hpc/tally/templates"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if v := s.viewer(r); v != nil {
		s.dashboard(w, r, v)
		return
	}
	s.render(w, r, http.StatusOK, templates.Home(s.page(r, "")))
}
