package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIConfig is how the JSON API behaves.
type APIConfig struct {
	// RatePerMinute is how many requests one token may make a minute (a
	// bucket of that many, refilled evenly); 0 turns the limit off. The
	// count is kept in this process: with N replicas a token may make up
	// to N times as many.
	RatePerMinute int
	// CORSOrigins may call the API from a browser page (an Open OnDemand
	// dashboard on another host); none by default.
	CORSOrigins []string
}

// apiState is what the API keeps between requests in this process: the
// per-token request buckets and the identities tokens resolved to a
// moment ago. Both are caches; the database stays the truth about tokens.
type apiState struct {
	limiter *rateLimiter
	mu      sync.Mutex
	people  map[string]resolvedPerson // by the token's user name
}

// resolvedPerson is who a token's owner is now and what they may do.
type resolvedPerson struct {
	slurmUser string
	roles     []string
	accounts  []string
	refused   bool // the account may no longer use Tally (gone, a system account, a realm not allowed)
	at        time.Time
}

func newAPIState(cfg APIConfig) *apiState {
	return &apiState{limiter: newRateLimiter(cfg.RatePerMinute), people: map[string]resolvedPerson{}}
}

// rateLimiter is a token bucket per API token: perMinute requests at once,
// refilled at perMinute a minute.
type rateLimiter struct {
	perMinute int
	mu        sync.Mutex
	buckets   map[int64]*bucket
}

type bucket struct {
	left float64
	at   time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{perMinute: perMinute, buckets: map[int64]*bucket{}}
}

// take spends one request of token id's bucket; when none is left it
// says how long until one is.
func (l *rateLimiter) take(id int64, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.perMinute <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	perSecond := float64(l.perMinute) / 60
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) >= 10_000 {
			l.sweep(now)
		}
		b = &bucket{left: float64(l.perMinute), at: now}
		l.buckets[id] = b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.left = math.Min(float64(l.perMinute), b.left+elapsed*perSecond)
		b.at = now
	}
	if b.left >= 1 {
		b.left--
		return true, 0
	}
	wait := time.Duration((1 - b.left) / perSecond * float64(time.Second))
	return false, wait
}

// sweep forgets buckets that have filled up again: they say nothing a new
// bucket would not.
func (l *rateLimiter) sweep(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.at) >= time.Minute {
			delete(l.buckets, id)
		}
	}
}

// apiViewer is the person a request's bearer token stands for, resolved
// the way a session is: the token must be live, its owner still someone
// who may sign in, and their roles are worked out again (at most a minute
// old), never read from the token. A cookie plays no part: the API never
// reads one, so a page on another site cannot use a browser's session.
func (s *Server) apiViewer(r *http.Request) (*Viewer, *apiToken, error) {
	ctx := r.Context()
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, nil, &apiErr{http.StatusUnauthorized, "unauthenticated",
			"Send a personal API token in the Authorization header: \"Authorization: Bearer tly_…\" (make one on Your account)."}
	}
	scheme, presented, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, nil, &apiErr{http.StatusUnauthorized, "unauthenticated", "Only bearer tokens are accepted: \"Authorization: Bearer tly_…\"."}
	}
	hash, ok := apiTokenHash(strings.TrimSpace(presented))
	if !ok {
		return nil, nil, &apiErr{http.StatusUnauthorized, "invalid_token", "That is not a Tally API token (they start with tly_)."}
	}
	t, err := s.tokens.TokenByHash(ctx, hash)
	if errors.Is(err, errNoToken) {
		return nil, nil, &apiErr{http.StatusUnauthorized, "invalid_token", "Tally knows no such token."}
	}
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	switch t.state(now) {
	case "revoked":
		return nil, &t, &apiErr{http.StatusUnauthorized, "token_revoked", "This token has been revoked."}
	case "expired":
		return nil, &t, &apiErr{http.StatusUnauthorized, "token_expired", "This token has expired: make a new one on Your account."}
	}
	if ok, wait := s.api.limiter.take(t.ID, now); !ok {
		return nil, &t, &rateLimited{wait: wait}
	}
	p, err := s.tokenOwner(ctx, t.User, now)
	if err != nil {
		return nil, &t, err
	}
	if p.refused || p.slurmUser != t.SlurmUser {
		return nil, &t, &apiErr{http.StatusUnauthorized, "invalid_token", "The owner of this token may no longer use Tally."}
	}
	from := s.clientIP(r)
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= tokenUseInterval || t.LastUsedFrom != from {
		if err := s.tokens.TokenUsed(ctx, t.ID, from); err != nil {
			s.log.Warn("recording an API token's use failed", "token", t.ID, "err", err)
		}
	}
	return &Viewer{User: t.User, SlurmUser: t.SlurmUser, Roles: p.roles, Accounts: p.accounts}, &t, nil
}

// tokenOwner works out, at most RolesMaxAge (a minute) ago, whether a
// token's owner may still use Tally and with which roles, with the same
// functions as sign-in and sessions.
func (s *Server) tokenOwner(ctx context.Context, user string, now time.Time) (resolvedPerson, error) {
	maxAge := s.auth.RolesMaxAge
	if maxAge <= 0 {
		maxAge = time.Minute
	}
	s.api.mu.Lock()
	p, ok := s.api.people[user]
	s.api.mu.Unlock()
	if ok && now.Sub(p.at) < maxAge {
		return p, nil
	}
	p = resolvedPerson{at: now}
	slurmUser, err := s.slurmIdentity(user)
	if err != nil {
		s.log.Info("API token of a person who may no longer sign in", "user", user, "why", err)
		p.refused = true
	} else {
		p.slurmUser = slurmUser
		if p.roles, p.accounts, err = s.resolveRoles(ctx, slurmUser); err != nil {
			return p, err
		}
	}
	s.api.mu.Lock()
	defer s.api.mu.Unlock()
	if len(s.api.people) >= 10_000 {
		for u, old := range s.api.people {
			if now.Sub(old.at) >= maxAge {
				delete(s.api.people, u)
			}
		}
	}
	s.api.people[user] = p
	return p, nil
}
