package web

import (
	"net/http"
	"net/url"
)

// The one authorisation layer: every route is registered through one of
// these, so a handler never runs for someone who may not see its page.
// Queries below still filter by the viewer (see each store), so changing an
// id in a URL shows nothing of anyone else.

// signedIn runs h for any signed-in person (a researcher, at least);
// anonymous browsers are sent to the sign-in page and brought back after.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *Viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.viewer(r)
		if v == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, http.StatusUnauthorized, "Sign in first", "Your session has ended. Sign in again and repeat what you were doing.")
			return
		}
		h(w, r, v)
	}
}

// anyRole runs h for viewers holding at least one of roles.
func (s *Server) anyRole(h func(http.ResponseWriter, *http.Request, *Viewer), roles ...string) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, v *Viewer) {
		for _, role := range roles {
			if v.Has(role) {
				h(w, r, v)
				return
			}
		}
		s.forbidden(w, r)
	})
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusForbidden, "Not allowed", "Your account does not have access to this page.")
}
