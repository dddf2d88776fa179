package web

import (
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"
)

// MetricsAccess says who may read /metrics, which tells anyone who can
// read it how busy Tally is, who signs in how often (route counts) and how
// far ingest lags: operators' business, not the public's.
type MetricsAccess struct {
	// Token, when set, admits a scraper sending "Authorization: Bearer <Token>".
	Token string
	// Networks admits clients from these addresses without a token. When
	// neither is configured, only loopback is admitted.
	Networks []netip.Prefix
}

// loopbackOnly is the default: a scraper on the same host.
func loopbackOnly() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// allowed says whether r may read /metrics: the right bearer token, or a
// client address (as clientIP sees it, through a trusted proxy) inside a
// listed network.
func (m MetricsAccess) allowed(r *http.Request, client string) bool {
	if m.Token != "" {
		if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(m.Token)) == 1 {
			return true
		}
	}
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range m.Networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// knownMethod keeps the method label of the request metrics bounded: a
// client may send any token as a method, and each would otherwise become
// a new series held for the life of the process.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
