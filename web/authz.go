package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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
		v, err := s.currentRoles(r, v)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		h(w, r, v)
	}
}

// anyRole runs h for viewers holding at least one of roles.
func (s *Server) anyRole(h func(http.ResponseWriter, *http.Request, *Viewer), roles ...string) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, v *Viewer) {
		if holdsAny(v, roles) {
			h(w, r, v)
			return
		}
		s.forbidden(w, r)
	})
}

// holdsAny is the role check of every page (anyRole) and API route
// (apiHandler): whether v holds at least one of roles.
func holdsAny(v *Viewer, roles []string) bool {
	return slices.ContainsFunc(roles, v.Has)
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusForbidden, "Not allowed", "Your account does not have access to this page.")
}

// currentRoles re-resolves the viewer's roles and coordinated accounts
// once they are older than RolesMaxAge (a minute by default, well inside
// any association sync interval): a coordinator removed in Slurm, or an
// admin taken out of the group, loses access within that time, not at the
// end of a twelve-hour session.
func (s *Server) currentRoles(r *http.Request, v *Viewer) (*Viewer, error) {
	ctx := r.Context()
	maxAge := s.auth.RolesMaxAge
	if maxAge <= 0 {
		maxAge = time.Minute
	}
	if time.Since(time.UnixMilli(s.sessions.GetInt64(ctx, keyRolesAt))) < maxAge {
		return v, nil
	}
	roles, accounts, err := s.resolveRoles(ctx, v.SlurmUser)
	if err != nil {
		return nil, err
	}
	if strings.Join(roles, ",") != strings.Join(v.Roles, ",") || strings.Join(accounts, ",") != strings.Join(v.Accounts, ",") {
		s.log.Info("roles changed since sign-in", "user", v.User, "roles", strings.Join(roles, ","), "was", strings.Join(v.Roles, ","),
			"accounts", strings.Join(accounts, ","))
	}
	s.putRoles(ctx, roles, accounts)
	return &Viewer{User: v.User, SlurmUser: v.SlurmUser, Roles: roles, Accounts: accounts}, nil
}

// putRoles stores what the viewer may do, and when that was worked out.
func (s *Server) putRoles(ctx context.Context, roles, accounts []string) {
	rolesJSON, _ := json.Marshal(roles)
	accountsJSON, _ := json.Marshal(accounts)
	s.sessions.Put(ctx, keyRoles, rolesJSON)
	s.sessions.Put(ctx, keyAccounts, accountsJSON)
	s.sessions.Put(ctx, keyRolesAt, time.Now().UnixMilli())
}
