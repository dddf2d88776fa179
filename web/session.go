package web

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/alexedwards/scs/v2"

	"github.com/tally-hpc/tally/templates"
)

const sessionCookie = "tally_session"

func newSessionManager(cfg Config, store scs.CtxStore) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store
	sm.IdleTimeout = cfg.SessionIdleTimeout
	sm.Lifetime = cfg.SessionLifetime
	sm.Cookie.Name = sessionCookie
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	// Secure is decided per request by secureCookies, and forced here when
	// the operator says every request is HTTPS.
	sm.Cookie.Secure = cfg.CookieSecure == "always"
	sm.Cookie.Persist = false
	return sm
}

const flashKey = "flash"

// flash queues a message for the next page this browser loads.
func (s *Server) flash(r *http.Request, kind, msg string) {
	var list []templates.Flash
	_ = json.Unmarshal(s.sessions.GetBytes(r.Context(), flashKey), &list)
	b, _ := json.Marshal(append(list, templates.Flash{Kind: kind, Message: msg}))
	s.sessions.Put(r.Context(), flashKey, b)
}

// Flashes are stored as JSON bytes: scs encodes with gob, and plain bytes
// need no gob type registration.
func (s *Server) popFlashes(r *http.Request) []templates.Flash {
	var list []templates.Flash
	if b := s.sessions.PopBytes(r.Context(), flashKey); len(b) > 0 {
		_ = json.Unmarshal(b, &list)
	}
	return list
}

type sessionMarker struct{}

func sessionLoaded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionMarker{}, true)))
	})
}

// hasSession is false for pages rendered outside the session middleware
// (a panic caught at the top, say); those pages show no user.
func hasSession(r *http.Request) bool {
	ok, _ := r.Context().Value(sessionMarker{}).(bool)
	return ok
}

// fillViewer adds the signed-in user, navigation and flashes to a page.
func (s *Server) fillViewer(r *http.Request, p *templates.Page) {
	if !hasSession(r) {
		return
	}
	p.Flashes = s.popFlashes(r)
	p.Nav = []templates.NavItem{{Label: "Home", Href: "/"}}
	v := s.viewer(r)
	if v == nil {
		return
	}
	p.Viewer = &templates.Viewer{Name: v.User, Roles: v.Roles}
	p.Nav = append(p.Nav, templates.NavItem{Label: "Jobs", Href: "/jobs"}, templates.NavItem{Label: "Statements", Href: "/statements"},
		templates.NavItem{Label: "Estimate", Href: "/estimate"})
	if v.Has(RoleCoordinator) || v.Has(RoleAdmin) || v.Has(RoleFinance) {
		p.Nav = append(p.Nav, templates.NavItem{Label: "Accounts", Href: "/accounts"})
	}
	if v.Has(RoleCoordinator) || v.Has(RoleFinance) || v.Has(RoleAdmin) {
		p.Nav = append(p.Nav, templates.NavItem{Label: "Periods", Href: "/periods"})
	}
	if v.Has(RoleFinance) || v.Has(RoleAdmin) {
		p.Nav = append(p.Nav, templates.NavItem{Label: "Finance", Href: "/finance"})
	}
	if v.Has(RoleAdmin) {
		p.Nav = append(p.Nav, templates.NavItem{Label: "Rate cards", Href: "/admin/rates"},
			templates.NavItem{Label: "Budgets", Href: "/admin/budgets"},
			templates.NavItem{Label: "Account details", Href: "/admin/accounts"},
			templates.NavItem{Label: "Ingest", Href: "/admin/ingest"},
			templates.NavItem{Label: "Users", Href: "/admin/users"},
			templates.NavItem{Label: "Audit log", Href: "/admin/audit"})
	}
	p.Nav = append(p.Nav, templates.NavItem{Label: "Your account", Href: "/me"})
}
