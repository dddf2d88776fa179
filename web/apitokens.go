package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/templates"
)

// The pages that make, list and revoke personal API tokens: each person's
// own on Your account (/me), everyone's for admins on /admin/tokens.
// They are forms like any other, so the cross-origin check guards them.

func (s *Server) registerTokenPages() {
	s.handle("POST /me/tokens", s.signedIn(s.createToken))
	s.handle("POST /me/tokens/{id}/revoke", s.signedIn(s.revokeOwnToken))
	s.handle("GET /admin/tokens", s.anyRole(s.adminTokens, RoleAdmin))
	s.handle("POST /admin/tokens/{id}/revoke", s.anyRole(s.adminRevokeToken, RoleAdmin))
}

// maxTokenDays is the longest expiry a form may ask for (ten years); no
// expiry at all is asked for with an empty field.
const maxTokenDays = 3650

// tokenRows are the table rows of tokens.
func tokenRows(ts []apiToken, now time.Time) []templates.APITokenRow {
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return templates.Timestamp(*t)
	}
	out := make([]templates.APITokenRow, 0, len(ts))
	for _, t := range ts {
		out = append(out, templates.APITokenRow{ID: t.ID, Owner: t.SlurmUser, Name: t.Name, Scope: t.Scope, Created: when(&t.CreatedAt),
			Expires: when(t.ExpiresAt), LastUsed: when(t.LastUsedAt), LastUsedFrom: t.LastUsedFrom, State: t.state(now)})
	}
	return out
}

// tokensView is the API tokens part of Your account for v.
func (s *Server) tokensView(r *http.Request, v *Viewer, form templates.APITokenForm) (templates.APITokensView, error) {
	ts, err := s.tokens.Tokens(r.Context(), v.SlurmUser)
	if err != nil {
		return templates.APITokensView{}, err
	}
	return templates.APITokensView{Rows: tokenRows(ts, time.Now()), Form: form, IsAdmin: v.Has(RoleAdmin)}, nil
}

// createToken makes a token and shows it once, on the page this answers
// (not after a redirect: a flash would keep it in the session row).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, v *Viewer) {
	form := templates.APITokenForm{Name: strings.TrimSpace(r.PostForm.Get("name")), ExpiresDays: strings.TrimSpace(r.PostForm.Get("expires_days"))}
	t := apiToken{User: v.User, SlurmUser: v.SlurmUser, Name: form.Name, Scope: "read"}
	switch {
	case form.Name == "" || len([]rune(form.Name)) > 100:
		form.Error = "Give the token a name of 1 to 100 characters, saying where it is used."
	case form.ExpiresDays != "":
		days, err := strconv.Atoi(form.ExpiresDays)
		if err != nil || days < 1 || days > maxTokenDays {
			form.Error = fmt.Sprintf("Expiry: a whole number of days from 1 to %d, or none.", maxTokenDays)
			break
		}
		exp := time.Now().Add(time.Duration(days) * 24 * time.Hour)
		t.ExpiresAt = &exp
	}
	if form.Error != "" {
		s.renderMe(w, r, v, http.StatusUnprocessableEntity, form, "", "")
		return
	}
	token, hash, err := newAPIToken()
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	made, err := s.tokens.CreateToken(r.Context(), t, hash)
	var many tooManyTokens
	if errors.As(err, &many) {
		form.Error = many.Error()
		s.renderMe(w, r, v, http.StatusUnprocessableEntity, form, "", "")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	expires := "never"
	if made.ExpiresAt != nil {
		expires = made.ExpiresAt.UTC().Format(time.RFC3339)
	}
	s.recordAdmin(r, v, "api_token_created", fmt.Sprintf("#%d %q for %s, expires %s", made.ID, made.Name, made.SlurmUser, expires))
	s.log.Info("API token made", "user", v.User, "token", made.ID)
	s.renderMe(w, r, v, http.StatusOK, templates.APITokenForm{ExpiresDays: "90"}, token, made.Name)
}

func (s *Server) revokeOwnToken(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.revokeToken(w, r, v, v.SlurmUser, "/me#api-tokens")
}

func (s *Server) adminRevokeToken(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.revokeToken(w, r, v, "", "/admin/tokens")
}

// revokeToken revokes the token in the URL, which must be owner's unless
// owner is "" (an admin): someone else's id answers 404, as a page would.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, v *Viewer, owner, back string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	t, err := s.tokens.RevokeToken(r.Context(), id, owner, v.User)
	if errors.Is(err, errNoToken) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.recordAdmin(r, v, "api_token_revoked", fmt.Sprintf("#%d %q of %s", t.ID, t.Name, t.SlurmUser))
	s.log.Info("API token revoked", "by", v.User, "token", t.ID, "owner", t.SlurmUser)
	s.flash(r, "success", fmt.Sprintf("Revoked the token %q of %s: it is refused from now on.", t.Name, t.SlurmUser))
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ts, err := s.tokens.Tokens(r.Context(), "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.AdminTokens(s.page(r, "API tokens"), tokenRows(ts, time.Now())))
}
