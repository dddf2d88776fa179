package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzHandlerQueries sends arbitrary query strings and path segments to
// every page and export an admin can open (admins see the most): no input
// may make Tally answer 500. Before the second hostile-input round, NUL
// and invalid UTF-8 in any filter, a year-0 cursor and a huge page number
// all did.
func FuzzHandlerQueries(f *testing.F) {
	for _, seed := range []struct{ query, segment string }{
		{"q=%00", "2026-11"},
		{"account=%ff", "%ff"},
		{"after=v.1.0000-01-01T00:00:00Z", "physics"},
		{"sort=cost&after=v.1.abc&dir=asc", "x"},
		{"page=9223372036854775807", "9223372036854775807"},
		{"from=2026-02-30&to=0000-01-01", ""},
		{"before=n.-1", "a b"},
		{"q=" + strings.Repeat("a", 300), strings.Repeat("b", 300)},
		{"%zz", "%00"},
		{"partition=cpu&qos=normal&state=COMPLETED&user=alice", "2026-12"},
		{"cpus=9223372036854775807&mem=8796093022208T&time=1-00:00:00&gpus=a100:1", ""},
	} {
		f.Add(seed.query, seed.segment)
	}
	e := newTestServer(f, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{AdminUsers: []string{"fuzz-admin"}, FinanceUsers: []string{"fuzz-admin"}}
		d.Authn = oneUserAuthn{"fuzz-admin", "fuzz-pw"}
		c.PageTimeout = 5 * time.Second
		c.ExportTimeout = 5 * time.Second
	})
	b := newBrowser(f, e)
	if resp, _ := b.login("fuzz-admin", "fuzz-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		f.Fatalf("sign-in: %d", resp.StatusCode)
	}
	cookie := b.cookie()
	paths := []string{"/", "/jobs", "/jobs.csv", "/estimate", "/accounts", "/statements", "/periods", "/finance",
		"/admin/audit", "/admin/users", "/admin/ingest", "/admin/rates", "/admin/accounts",
		"/jobs/{}", "/accounts/{}", "/periods/{}", "/periods/{}/accounts.csv", "/periods/{}/jobs.csv",
		"/periods/{}/statement.pdf", "/statements/{}/{}", "/jobs/{}/receipt.pdf", "/periods/{}/adjustments", "/admin/ingest/live"}
	f.Fuzz(func(t *testing.T, query, segment string) {
		for _, p := range paths {
			// The segment as a browser would send it: escaped into the
			// path, then decoded by the server.
			raw := strings.ReplaceAll(p, "{}", url.PathEscape(segment))
			u, err := url.Parse(raw)
			if err != nil {
				continue
			}
			u.RawQuery = query
			req := httptest.NewRequest("GET", "/", nil)
			req.URL = u
			req.RequestURI = u.RequestURI()
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("GET %s?%q: %d\n%.300s", raw, query, rec.Code, rec.Body.String())
			}
		}
	})
}
