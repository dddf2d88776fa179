package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The second hostile-input round (docs/security.md): each test is named
// after the item of the issue it keeps closed.

// Item 1: any token is a valid HTTP method, and each became a new
// metrics series for the life of the process.
func TestAbuse01MetricsMethodsAreBounded(t *testing.T) {
	e := newTestServer(t, nil)
	for i := range 20 {
		req, _ := http.NewRequest(strings.Repeat("X", 1000)+string(rune('A'+i)), e.http.URL+"/", nil)
		if resp, err := e.http.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}
	_, body := e.get(t, "/metrics")
	if strings.Contains(body, "XXXX") {
		t.Error("a made-up method became a metrics label")
	}
	if !strings.Contains(body, `method="other"`) {
		t.Error(`made-up methods are not counted as method="other"`)
	}
	if n := strings.Count(body, `method="other",code=`); n > 2 {
		t.Errorf("%d request series for made-up methods, want them merged", n)
	}
}

// Item 1: /metrics answered anyone. It now answers loopback by default, a
// listed network, or a bearer token.
func TestAbuse01MetricsAreRestricted(t *testing.T) {
	const token = "0123456789abcdef-metrics"
	for _, c := range []struct {
		name   string
		access MetricsAccess
		remote string
		bearer string
		want   int
	}{
		{"default, from loopback", MetricsAccess{}, "127.0.0.1:5000", "", 200},
		{"default, from elsewhere", MetricsAccess{}, "198.51.100.7:5000", "", 403},
		{"listed network", MetricsAccess{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "10.1.2.3:5000", "", 200},
		{"outside the listed network", MetricsAccess{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "127.0.0.1:5000", "", 403},
		{"token, right", MetricsAccess{Token: token}, "198.51.100.7:5000", token, 200},
		{"token, wrong", MetricsAccess{Token: token}, "198.51.100.7:5000", "guess", 403},
		{"token, none", MetricsAccess{Token: token}, "198.51.100.7:5000", "", 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestServer(t, func(cfg *Config, d *Deps) { cfg.Metrics = c.access })
			req, _ := http.NewRequest("GET", "/metrics", nil)
			req.RemoteAddr = c.remote
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("status %d, want %d", rec.Code, c.want)
			}
			if c.want == 403 && strings.Contains(rec.Body.String(), "tally_http_requests_total") {
				t.Error("refused, yet the metrics were sent")
			}
		})
	}
}

// Items 2 and 3: oversized, NUL-bearing, invalid UTF-8 and malformed
// values answer 400 with a message saying what was wrong, never 500, and
// a CSV export never answers 200 with an empty file instead.
func TestAbuse02And03HostileFieldsAnswer400(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	if resp, _ := b.login("tally-t-admin", "tally-admin-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	long := strings.Repeat("a", 900_000)
	for _, c := range []struct {
		name, path, want string
	}{
		{"900 KB search", "/jobs?q=" + long, "longer than Tally accepts"},
		{"900 KB search, CSV", "/jobs.csv?q=" + long, "longer than Tally accepts"},
		{"NUL in a filter", "/jobs?q=%00", "control character"},
		{"NUL in a filter, CSV", "/jobs.csv?q=%00", "control character"},
		{"invalid UTF-8 in a filter", "/jobs?account=%ff", "not valid UTF-8"},
		{"invalid UTF-8 in a path", "/accounts/%ff", "not valid UTF-8"},
		{"NUL in a path", "/periods/%00", "control character"},
		{"NUL in a period export", "/periods/%00/accounts.csv", "control character"},
		{"cursor in year 0", "/jobs?after=v.1.0000-01-01T00:00:00Z", "page link is damaged"},
		{"cursor of another sort", "/jobs?sort=cost&after=v.1.abc", "page link is damaged"},
		{"cursor in an export", "/jobs.csv?before=zzz", "page link is damaged"},
		{"bad date", "/jobs.csv?from=2026-13-45", "must be a day"},
		{"huge audit page", "/admin/audit?page=9223372036854775807", "page number"},
		{"huge ingest page", "/admin/ingest?page=-1", "page number"},
		{"bad escape", "/jobs?q=%zz", "could not be read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := b.get(c.path)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("%s: %d, want 400 saying %q\n%.300s", c.path[:min(len(c.path), 80)], resp.StatusCode, c.want, body)
			}
			if strings.Count(body, "aaaaaaaaaa") > 0 {
				t.Error("the refused value is echoed back")
			}
		})
	}
	// Forms: an adjustment reason with NUL, a sign-in name with NUL.
	var period string
	e.srv.pool.QueryRow(context.Background(), `SELECT name FROM billing_periods ORDER BY starts DESC LIMIT 1`).Scan(&period)
	before := countRows(t, e, `SELECT count(*) FROM adjustments`)
	resp, body := b.post("/periods/"+url.PathEscape(period)+"/adjustments", url.Values{"account": {"physics"}, "amount": {"5.00"}, "reason": {"credit\x00"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "control character") {
		t.Errorf("adjustment with NUL: %d\n%.300s", resp.StatusCode, body)
	}
	if after := countRows(t, e, `SELECT count(*) FROM adjustments`); after != before {
		t.Error("an adjustment was written anyway")
	}
	anon := newBrowser(t, e)
	if resp, body := anon.login("a\x00b", "x", "/"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "control character") {
		t.Errorf("sign-in as a%%00b: %d\n%.300s", resp.StatusCode, body)
	}
}

// Item 2: exports are bounded in time like pages, by their own limit.
func TestAbuse02ExportsHaveADeadline(t *testing.T) {
	var got time.Duration
	e := newTestServer(t, func(c *Config, d *Deps) { c.ExportTimeout = 90 * time.Second })
	h := e.srv.deadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := r.Context().Deadline(); ok {
			got = time.Until(d)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/jobs.csv", nil))
	if got <= 0 || got > 90*time.Second {
		t.Errorf("export deadline %s, want within 90s", got)
	}
}

// Item 4: 30 parallel attempts for one user name all passed the count
// before any failure was recorded, and PAM checked 15 passwords against a
// limit of 5.
func TestAbuse04ThrottleCheckAndRecordAreAtomic(t *testing.T) {
	slow := &slowRefusal{delay: 200 * time.Millisecond}
	e := newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{MaxFailuresPerUser: 5, MaxFailuresPerAddress: 1000, FailureWindow: 15 * time.Minute}
		d.Authn = slow
	})
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.PostForm(e.http.URL+"/login", url.Values{"username": {"victim"}, "password": {"guess"}})
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := slow.calls.Load(); n > 5 {
		t.Errorf("30 parallel attempts: %d passwords checked, the limit is 5", n)
	}
}

type slowRefusal struct {
	delay time.Duration
	calls atomic.Int64
}

func (s *slowRefusal) Authenticate(ctx context.Context, user, password string) error {
	s.calls.Add(1)
	time.Sleep(s.delay)
	return errors.New("not accepted")
}

// Item 5: HAProxy appends its hop as a header line of its own; the client
// sent one first, and Tally believed it.
func TestAbuse05ForwardedForUsesTheLastUntrustedHop(t *testing.T) {
	for _, c := range []struct {
		name    string
		lines   []string
		proxies []netip.Prefix
		want    string
	}{
		{"one line", []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"client's own line first", []string{"1.2.3.4", "203.0.113.9"}, nil, "203.0.113.9"},
		{"client's own hop in the proxy's line", []string{"1.2.3.4, 203.0.113.9"}, nil, "203.0.113.9"},
		{"through a CDN", []string{"1.2.3.4, 203.0.113.9", "192.0.2.10"}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "203.0.113.9"},
		{"garbage last", []string{"203.0.113.9, not-an-address"}, nil, "127.0.0.1"},
		{"no header", nil, nil, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustProxy: true, TrustedProxies: c.proxies}}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "127.0.0.1:40000"
			for _, l := range c.lines {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := s.clientIP(r); got != c.want {
				t.Errorf("client %q, want %q", got, c.want)
			}
		})
	}
	// End to end: the forged first line escapes neither the address limit
	// nor the audit log.
	e := newTestServer(t, func(c *Config, d *Deps) {
		c.TrustProxy = true
		c.Auth = AuthConfig{MaxFailuresPerUser: 100, MaxFailuresPerAddress: 2, FailureWindow: 15 * time.Minute}
		d.Authn = &slowRefusal{}
	})
	var last int
	for i := range 3 {
		req, _ := http.NewRequest("POST", e.http.URL+"/login", strings.NewReader(url.Values{"username": {"u" + string(rune('a'+i))}, "password": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Add("X-Forwarded-For", "10.9.9."+string(rune('1'+i)))
		req.Header.Add("X-Forwarded-For", "203.0.113.9")
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("third attempt from one real address with forged first lines: %d, want 429", last)
	}
	if n := countRows(t, e, `SELECT count(*) FROM auth_events WHERE address LIKE '10.9.9.%'`); n != 0 {
		t.Errorf("%d audit rows carry the forged address", n)
	}
}

// Item 6: the typed name was the identity. PAM's settled name is, realms
// must be configured, and root, system accounts and the service user are
// refused even when PAM says yes.
func TestAbuse06IdentityIsWhatPAMSettledOn(t *testing.T) {
	mapping := &mappingAuthn{to: map[string]string{"ALICE": "tally-t-alice", "boss": "root"}}
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.Auth.StripRealm = true
		c.Auth.AllowedRealms = []string{"EXAMPLE.ORG"}
		c.Auth.MinUID = 1000
		c.Auth.RefusedUsers = []string{"tally-t-fin"}
		d.Authn = mapping
	})
	for _, c := range []struct {
		typed string
		want  int
		who   string
	}{
		{"ALICE", http.StatusSeeOther, "tally-t-alice"},                     // PAM mapped the name: that account signs in
		{"tally-t-alice@EXAMPLE.ORG", http.StatusSeeOther, "tally-t-alice"}, // a configured realm
		{"tally-t-alice@ANY.REALM", http.StatusUnauthorized, ""},            // any other realm
		{"root", http.StatusUnauthorized, ""},
		{"boss", http.StatusUnauthorized, ""},        // PAM settled on root
		{"daemon", http.StatusUnauthorized, ""},      // uid 1: a system account
		{"tally-t-fin", http.StatusUnauthorized, ""}, // the service user
		{"nosuchuser-zz", http.StatusUnauthorized, ""},
	} {
		t.Run(c.typed, func(t *testing.T) {
			b := newBrowser(t, e)
			resp, body := b.login(c.typed, "right", "/me")
			if resp.StatusCode != c.want {
				t.Fatalf("%s: %d, want %d\n%.300s", c.typed, resp.StatusCode, c.want, body)
			}
			if c.want == http.StatusUnauthorized && !strings.Contains(body, genericLoginFailure) {
				t.Errorf("%s refused without the one message for every refusal", c.typed)
			}
			if c.who != "" {
				if _, body := b.get("/me"); !strings.Contains(body, c.who) {
					t.Errorf("%s signed in, but /me does not show %s", c.typed, c.who)
				}
			}
		})
	}
}

// mappingAuthn accepts any password and settles on a mapped name, as a
// PAM module that rewrites PAM_USER does.
type mappingAuthn struct{ to map[string]string }

func (m *mappingAuthn) Authenticate(ctx context.Context, user, password string) error {
	_, err := m.AuthenticateName(ctx, user, password)
	return err
}

func (m *mappingAuthn) AuthenticateName(ctx context.Context, user, password string) (string, error) {
	if to, ok := m.to[user]; ok {
		return to, nil
	}
	return user, nil
}

// Item 8: a coordinator removed in Slurm kept access for the rest of a
// twelve-hour session.
func TestAbuse08RolesFollowTheAssociations(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) { c.Auth.RolesMaxAge = time.Millisecond })
	seedBilling(t, e)
	b := newBrowser(t, e)
	if resp, _ := b.login("tally-t-coord", "tally-coord-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/accounts/physics"); resp.StatusCode != http.StatusOK {
		t.Fatalf("coordinator's account page: %d", resp.StatusCode)
	}
	if _, err := e.srv.pool.Exec(context.Background(), `DELETE FROM slurm_coordinators WHERE username = 'tally-t-coord'`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if resp, _ := b.get("/accounts/physics"); resp.StatusCode == http.StatusOK {
		t.Error("a removed coordinator still sees the account")
	}
	if resp, _ := b.get("/accounts"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a removed coordinator's accounts list: %d, want 403", resp.StatusCode)
	}
}

// Item 15: an anonymous POST /logout wrote a session row (for its flash).
func TestAbuse15AnonymousLogoutWritesNoSession(t *testing.T) {
	e := newTestServer(t, nil)
	before := countRows(t, e, `SELECT count(*) FROM sessions`)
	for range 5 {
		resp, body := newBrowser(t, e).post("/logout", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("anonymous logout: %d\n%.200s", resp.StatusCode, body)
		}
		if len(resp.Cookies()) > 0 {
			t.Errorf("anonymous logout set cookies %v", resp.Cookies())
		}
	}
	if after := countRows(t, e, `SELECT count(*) FROM sessions`); after != before {
		t.Errorf("sessions %d -> %d after anonymous sign-outs", before, after)
	}
}

func countRows(t *testing.T, e *testEnv, query string) (n int) {
	t.Helper()
	if err := e.srv.pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Item 12, the rest of it: with the rows sealed, the table's key column
// still held every live cookie, so whoever could read it could sign in as
// anyone. It holds the cookie's SHA-256 now.
func TestAbuse12TableHoldsNoLiveCookie(t *testing.T) {
	e := newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{AdminUsers: []string{"zq-cookie-admin"}}
		d.Authn = oneUserAuthn{"zq-cookie-admin", "pw"}
	})
	b := newBrowser(t, e)
	if resp, _ := b.login("zq-cookie-admin", "pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	cookie := b.cookie()
	for _, r := range sessionRows(t, e.srv.pool) {
		if r.token == cookie {
			t.Fatal("the sessions table holds the live cookie")
		}
		// Replaying the key column as a cookie signs nobody in.
		wantSignedOut(t, getWithCookie(t, e, r.token, "/admin/audit"), "the key column replayed as a cookie")
	}
	if resp, _ := b.get("/admin/audit"); resp.StatusCode != http.StatusOK {
		t.Errorf("the real cookie: %d", resp.StatusCode)
	}
}
