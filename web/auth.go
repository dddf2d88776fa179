package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/templates"
)

// Authenticator checks a user name and password (PAM in production).
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) error
}

// NamingAuthenticator is an Authenticator that also says which account
// it checked: PAM modules may map the typed name to another (a realm, a
// case, an alias), and that account is who signed in.
type NamingAuthenticator interface {
	AuthenticateName(ctx context.Context, user, password string) (string, error)
}

// AuthConfig is how sign-in, roles and throttling behave.
type AuthConfig struct {
	StripRealm bool // alice@EXAMPLE.ORG signs in as Slurm user alice...
	// ...when EXAMPLE.ORG is one of these (any case); other realms are refused.
	AllowedRealms []string
	// MinUID refuses accounts below this Unix uid (root and system
	// accounts) even when PAM accepts them; 0 turns the lookup off (the
	// demo, whose people are not Unix accounts). root is always refused.
	MinUID int
	// RolesMaxAge is how long roles and coordinated accounts are trusted
	// before they are worked out again (0: a minute).
	RolesMaxAge time.Duration
	// RefusedUsers may never sign in: the Slurm service user ingest runs as.
	RefusedUsers  []string
	AdminGroups   []string
	FinanceGroups []string
	AdminUsers    []string
	FinanceUsers  []string
	Cluster       string // whose coordinators grant the coordinator role

	MaxFailuresPerUser    int
	MaxFailuresPerAddress int
	FailureWindow         time.Duration
	// FailureFloor is the least time a refused sign-in takes, so that how
	// long PAM took (hashing a real user's password, or not, for an
	// unknown one) does not tell who has an account.
	FailureFloor time.Duration

	SlurmAPIVersion string // for the live access check, e.g. v0.0.38
}

// Session keys. The Slurm token lives only here, in the server-side session.
const (
	keyUser       = "user"
	keySlurmUser  = "slurm_user"
	keyRoles      = "roles"
	keyAccounts   = "accounts"
	keyToken      = "slurm_token"
	keyTokenExp   = "slurm_token_exp"
	keySignedInAt = "signed_in_at"
	keyRolesAt    = "roles_at" // Unix milliseconds
)

// Roles.
const (
	RoleResearcher  = "researcher"
	RoleCoordinator = "coordinator"
	RoleAdmin       = "admin"
	RoleFinance     = "finance"
)

// Viewer is the signed-in person as handlers see them.
type Viewer struct {
	User      string
	SlurmUser string
	Roles     []string
	Accounts  []string // Slurm accounts they coordinate
}

// Has reports whether the viewer holds role.
func (v *Viewer) Has(role string) bool {
	if v == nil {
		return false
	}
	for _, r := range v.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Coordinates reports whether the viewer coordinates account.
func (v *Viewer) Coordinates(account string) bool {
	for _, a := range v.Accounts {
		if a == account {
			return true
		}
	}
	return false
}

// viewer reads the signed-in person from the session; nil when anonymous.
func (s *Server) viewer(r *http.Request) *Viewer {
	if !hasSession(r) {
		return nil
	}
	ctx := r.Context()
	u := s.sessions.GetString(ctx, keyUser)
	if u == "" {
		return nil
	}
	v := &Viewer{User: u, SlurmUser: s.sessions.GetString(ctx, keySlurmUser)}
	_ = json.Unmarshal(s.sessions.GetBytes(ctx, keyRoles), &v.Roles)
	_ = json.Unmarshal(s.sessions.GetBytes(ctx, keyAccounts), &v.Accounts)
	return v
}

// slurmIdentity maps the account PAM settled on to the Slurm user who
// signs in, refusing what must not: a realm not configured (with realm
// stripping, alice@ANY.REALM accepted by pam_sss would otherwise become
// alice), root, system accounts below MinUID and the service user.
func (s *Server) slurmIdentity(name string) (string, error) {
	local := name
	if l, realm, ok := strings.Cut(name, "@"); ok && s.auth.StripRealm {
		allowed := false
		for _, r := range s.auth.AllowedRealms {
			allowed = allowed || strings.EqualFold(r, realm)
		}
		if l == "" || !allowed {
			return "", fmt.Errorf("realm %q is not one this Tally accepts", realm)
		}
		local = l
	}
	if local == "root" || contains(s.auth.RefusedUsers, local) {
		return "", fmt.Errorf("%q may not sign in to Tally", local)
	}
	if s.auth.MinUID > 0 {
		u, err := user.Lookup(local)
		if err != nil {
			return "", fmt.Errorf("no account %q on this host: %v", local, err)
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil || uid < s.auth.MinUID {
			return "", fmt.Errorf("%q has uid %s, below the minimum %d (a system account)", local, u.Uid, s.auth.MinUID)
		}
	}
	return local, nil
}

// authenticate checks the password and returns the account PAM settled on.
func (s *Server) authenticate(ctx context.Context, user, password string) (string, error) {
	if na, ok := s.authn.(NamingAuthenticator); ok {
		return na.AuthenticateName(ctx, user, password)
	}
	return user, s.authn.Authenticate(ctx, user, password)
}

// safeNext keeps a post-login redirect on this site: a path, never a URL
// with a host, a scheme, or a protocol-relative "//".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u.Path == "/login" {
		return "/"
	}
	return u.RequestURI()
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.viewer(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, templates.Login(s.page(r, "Sign in"), templates.LoginForm{Next: safeNext(r.URL.Query().Get("next"))}))
}

// genericLoginFailure is the one message for every refused sign-in: the
// same words for an unknown user and a wrong password.
const genericLoginFailure = "That user name and password did not work. Check them and try again."

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	began := time.Now()
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", "The sign-in form could not be read.")
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	addr := s.clientIP(r)
	form := templates.LoginForm{Username: user, Next: next}

	if user == "" || password == "" || len(user) > 256 || len(password) > 1024 {
		form.Error = "Enter your user name and password."
		s.render(w, r, http.StatusUnprocessableEntity, templates.Login(s.page(r, "Sign in"), form))
		return
	}

	wait, err := s.throttleWait(ctx, user, addr)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if wait > 0 {
		s.recordAuth(ctx, user, addr, "login_throttled", "")
		minutes := int((wait + time.Minute - 1) / time.Minute)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.render(w, r, http.StatusTooManyRequests, templates.Throttled(s.page(r, "Too many attempts"), minutes))
		return
	}

	refuse := func(status int, message, reason string) {
		s.recordAuth(ctx, user, addr, "login_failed", reason)
		if pad := s.auth.FailureFloor - time.Since(began); pad > 0 {
			select {
			case <-time.After(pad):
			case <-ctx.Done():
			}
		}
		s.log.Info("sign-in refused", "user", user, "remote", addr, "reason", reason)
		form.Error = message
		s.render(w, r, status, templates.Login(s.page(r, "Sign in"), form))
	}
	settled, err := s.authenticate(ctx, user, password)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "not answering") {
			refuse(http.StatusServiceUnavailable, "The sign-in service did not answer. Try again in a moment.", err.Error())
		} else {
			refuse(http.StatusUnauthorized, genericLoginFailure, err.Error())
		}
		return
	}
	// The same words as a wrong password: whether an account exists, or
	// is a system one, is not the visitor's business.
	slurmUser, err := s.slurmIdentity(settled)
	if err != nil {
		refuse(http.StatusUnauthorized, genericLoginFailure, err.Error())
		return
	}
	roles, accounts, err := s.resolveRoles(ctx, slurmUser)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// A new session token on every sign-in: a token planted before login
	// (session fixation) is worthless afterwards.
	if err := s.sessions.RenewToken(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(ctx, keyUser, settled)
	s.sessions.Put(ctx, keySlurmUser, slurmUser)
	s.putRoles(ctx, roles, accounts)
	s.sessions.Put(ctx, keySignedInAt, time.Now().Unix())
	// Each cluster's own records of the last days, with the person's own
	// token of that cluster, in the background: sign-in does not wait for
	// slurmrestd.
	for i, c := range s.clusters {
		if c.Minter == nil {
			continue
		}
		t, err := s.mintFor(ctx, i, slurmUser)
		if err != nil {
			s.log.Error("minting Slurm token failed", "cluster", c.Name, "user", slurmUser, "err", err)
			continue
		}
		if c.Ingest == nil {
			continue
		}
		cred, ing := slurm.Credential{User: slurmUser, Token: t}, c.Ingest
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var limited *ingest.RefreshLimitError
			if err := ing.RefreshUser(ctx, cred, 7); errors.As(err, &limited) {
				s.log.Debug("no refresh after sign-in", "cluster", c.Name, "user", slurmUser, "why", err)
			} else if err != nil {
				s.log.Warn("refreshing records after sign-in failed", "cluster", c.Name, "user", slurmUser, "err", err)
			}
		}()
	}
	detail := strings.Join(roles, ",")
	if settled != user {
		detail += " as " + settled
	}
	// Under the typed name, which the throttle counted the attempt under.
	s.recordAuth(ctx, user, addr, "login", detail)
	s.log.Info("signed in", "user", user, "slurm_user", slurmUser, "roles", strings.Join(roles, ","), "remote", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := s.viewer(r)
	if v == nil {
		// Nobody to sign out: no flash either, which would create a
		// session row for every anonymous POST.
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.recordAuth(ctx, v.User, s.clientIP(r), "logout", "")
	if err := s.sessions.Destroy(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.flash(r, "info", "You have signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// slurmCredential is the viewer's credential on the first cluster (see
// clusterCredential).
func (s *Server) slurmCredential(r *http.Request) (slurm.Credential, bool) {
	return s.clusterCredential(r, 0)
}
