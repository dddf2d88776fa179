package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/web/pamauth"
)

// Users and passwords made by scripts/test-pam-setup.sh.
var pamUsers = map[string]string{
	"tally-t-alice": "tally-alice-pw",
	"tally-t-admin": "tally-admin-pw",
	"tally-t-fin":   "tally-fin-pw",
	"tally-t-coord": "tally-coord-pw",
}

func requirePAM(t *testing.T) {
	t.Helper()
	if _, err := user.Lookup("tally-t-coord"); err != nil {
		testenv.Missing(t, "PAM test users missing: run scripts/test-pam-setup.sh as root")
	}
	if _, err := pamauth.ServiceFile("tally-test"); err != nil {
		testenv.Missing(t, "PAM service tally-test missing: run scripts/test-pam-setup.sh as root")
	}
}

// newAuthServer is a test server with real PAM and, when keyFile is set, a
// real minter.
func newAuthServer(t *testing.T, keyFile string, mutate func(*Config, *Deps)) *testEnv {
	t.Helper()
	requirePAM(t)
	return newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{
			AdminGroups: []string{"tally-admin"}, FinanceGroups: []string{"tally-finance"},
			MaxFailuresPerUser: 5, MaxFailuresPerAddress: 50, FailureWindow: 15 * time.Minute,
			SlurmAPIVersion: "v0.0.38",
		}
		d.Authn = pamauth.New("tally-test", 10*time.Second, 8)
		if keyFile != "" {
			m, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: keyFile})
			if err != nil {
				t.Fatal(err)
			}
			d.Minter = m
		}
		if mutate != nil {
			mutate(c, d)
		}
	})
}

// browser is a client with a cookie jar that does not follow redirects and
// sends Sec-Fetch-Site like a real browser on a same-origin form post.
type browser struct {
	t    testing.TB
	e    *testEnv
	c    *http.Client
	jar  *cookiejar.Jar
	seen []string // every body and header value, to search for secrets
}

func newBrowser(t testing.TB, e *testEnv) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c, jar: jar}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.seen = append(b.seen, string(body))
	for k, vs := range resp.Header {
		b.seen = append(b.seen, k+": "+strings.Join(vs, ","))
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", b.e.http.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", b.e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func (b *browser) login(user, password, next string) (*http.Response, string) {
	return b.post("/login", url.Values{"username": {user}, "password": {password}, "next": {next}})
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.e.http.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

func hs256Key(t *testing.T) string {
	k := make([]byte, 32)
	rand.Read(k)
	p := filepath.Join(t.TempDir(), "jwt.key")
	os.WriteFile(p, k, 0o600)
	return p
}

func TestLoginLogout(t *testing.T) {
	e := newAuthServer(t, hs256Key(t), nil)
	b := newBrowser(t, e)

	resp, _ := b.get("/me")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fme" {
		t.Fatalf("anonymous /me: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := b.get("/login?next=%2Fme")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `value="/me"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}

	resp, _ = b.login("tally-t-alice", "tally-alice-pw", "/me")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/me" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := resp.Header.Get("Set-Cookie")
	if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("session cookie %q", c)
	}
	resp, body = b.get("/me")
	if resp.StatusCode != 200 || !strings.Contains(body, "tally-t-alice") || !strings.Contains(body, "researcher") {
		t.Fatalf("/me after login: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = b.post("/logout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, body = b.get("/login")
	if !strings.Contains(body, "signed out") {
		t.Error("no signed-out message")
	}
	if resp, _ = b.get("/me"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("/me after logout: %d", resp.StatusCode)
	}

	var actions []string
	rows, _ := e.srv.pool.Query(context.Background(), `SELECT action FROM auth_events WHERE username = 'tally-t-alice' AND action <> 'login_attempt' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if strings.Join(actions, ",") != "login,logout" {
		t.Errorf("audit trail %v", actions)
	}
}

// A session token set before login is replaced at login (no fixation).
func TestSessionRenewedAtLogin(t *testing.T) {
	e := newAuthServer(t, "", nil)
	b := newBrowser(t, e)
	// A failed login shows a page; a flash forces a pre-login session.
	e.srv.mux.HandleFunc("GET /test/touch", func(w http.ResponseWriter, r *http.Request) {
		e.srv.flash(r, "info", "x")
		w.WriteHeader(204)
	})
	b.get("/test/touch")
	before := b.cookie()
	if before == "" {
		t.Fatal("no pre-login session")
	}
	b.login("tally-t-alice", "tally-alice-pw", "/")
	after := b.cookie()
	if after == "" || after == before {
		t.Fatalf("session token not renewed: %q -> %q", before, after)
	}
	// The old token is worth nothing now.
	attacker := newBrowser(t, e)
	u, _ := url.Parse(e.http.URL)
	attacker.jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: before}})
	if resp, _ := attacker.get("/me"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pre-login token still signed in: %d", resp.StatusCode)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newAuthServer(t, "", nil)
	b := newBrowser(t, e)
	var bodies []string
	for _, c := range []struct{ user, pw string }{
		{"tally-t-alice", "wrong"},
		{"tally-t-nosuchuser", "wrong"},
		{"tally-t-locked", "tally-locked-pw"},
		{"tally-t-expired", "tally-expired-pw"},
	} {
		resp, body := b.login(c.user, c.pw, "/")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d", c.user, resp.StatusCode)
		}
		if !strings.Contains(body, genericLoginFailure) {
			t.Fatalf("%s: no generic message", c.user)
		}
		bodies = append(bodies, strings.ReplaceAll(body, c.user, "USER"))
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Fatalf("failure pages differ (user enumeration):\n%s\n---\n%s", bodies[0], bodies[i])
		}
	}
	if resp, body := b.login("", "", "/"); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter your user name") {
		t.Fatalf("empty form: %d", resp.StatusCode)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.Auth.MaxFailuresPerUser = 3
		c.Auth.MaxFailuresPerAddress = 6
	})
	b := newBrowser(t, e)
	for i := 0; i < 3; i++ {
		if resp, _ := b.login("tally-t-alice", "wrong", "/"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	// Even the right password waits now, and PAM is not asked.
	resp, body := b.login("tally-t-alice", "tally-alice-pw", "/")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in 15 minutes") {
		t.Fatalf("throttled: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Another user from the same address is still allowed, until the
	// address's own limit.
	if resp, _ := b.login("tally-t-admin", "tally-admin-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("other user: %d", resp.StatusCode)
	}
	b2 := newBrowser(t, e)
	for i := 0; i < 3; i++ {
		b2.login("tally-t-nouser"+string(rune('a'+i)), "x", "/")
	}
	if resp, _ := b2.login("tally-t-fin", "tally-fin-pw", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("address limit not enforced: %d", resp.StatusCode)
	}
	// A second replica on the same database enforces the same limits.
	replica := newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = e.srv.auth
		d.Authn = e.srv.authn
		d.Pool = e.srv.pool
	})
	if resp, _ := newBrowser(t, replica).login("tally-t-alice", "tally-alice-pw", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("replica ignored the shared throttle: %d", resp.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/me":                   "/me",
		"/jobs?page=2":          "/jobs?page=2",
		"//evil.example/x":      "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"me":                    "/",
		"/login":                "/",
		"/x\r\nSet-Cookie: a=b": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCrossOriginLoginRefused(t *testing.T) {
	e := newAuthServer(t, "", nil)
	b := newBrowser(t, e)
	req, _ := http.NewRequest("POST", e.http.URL+"/login", strings.NewReader("username=tally-t-alice&password=tally-alice-pw"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", resp.StatusCode)
	}
}

// Every role against every route group.
func TestAuthorisationMatrix(t *testing.T) {
	e := newAuthServer(t, "", nil)
	if _, err := e.srv.pool.Exec(context.Background(),
		`INSERT INTO slurm_coordinators (cluster, account, username) VALUES ('testbed', 'physics', 'tally-t-coord')`); err != nil {
		t.Fatal(err)
	}
	routes := []string{"/me", "/accounts", "/finance", "/admin/audit"}
	matrix := map[string][]int{
		"":              {303, 303, 303, 303},
		"tally-t-alice": {200, 403, 403, 403},
		"tally-t-coord": {200, 200, 403, 403},
		"tally-t-fin":   {200, 200, 200, 403},
		"tally-t-admin": {200, 200, 200, 200},
	}
	for who, want := range matrix {
		t.Run("as "+who, func(t *testing.T) {
			b := newBrowser(t, e)
			if who != "" {
				if resp, _ := b.login(who, pamUsers[who], "/"); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("login: %d", resp.StatusCode)
				}
			}
			for i, path := range routes {
				resp, _ := b.get(path)
				if resp.StatusCode != want[i] {
					t.Errorf("%s: %d, want %d", path, resp.StatusCode, want[i])
				}
			}
		})
	}
}

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// The Slurm token is in the server-side session and nowhere a browser or a
// log reader could see it.
func TestTokenStaysOnServer(t *testing.T) {
	keyFile := hs256Key(t)
	e := newAuthServer(t, keyFile, nil)
	b := newBrowser(t, e)
	// A mistyped password (someone else's, or with a typo) is a secret too.
	b.login("tally-t-admin", "Wrong-Passw0rd-zq81", "/me")
	b.login("no-such-user-x", "tally-fin-pw", "/me")
	b.login("tally-t-admin", "tally-admin-pw", "/me")
	for _, p := range []string{"/", "/me", "/accounts", "/finance", "/admin/audit", "/nowhere"} {
		b.get(p)
	}
	b.post("/logout", nil)

	// The token itself, from the session table (sealed there: see
	// TestAbuse12SessionTokensEncryptedAtRest). The session is destroyed
	// at logout; log in again to hold a token.
	b.login("tally-t-admin", "tally-admin-pw", "/")
	var secrets []string
	for _, r := range sessionRows(t, e.srv.pool) {
		data, err := e.srv.store.keys.open(r.token, r.data)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range jwtPattern.FindAll(data, -1) {
			secrets = append(secrets, string(m))
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no Slurm token in the server-side session")
	}
	b.get("/me")
	everything := strings.Join(b.seen, "\n") + e.logs.String()
	for _, s := range secrets {
		if strings.Contains(everything, s) {
			t.Fatal("the Slurm token reached a page, header or log line")
		}
	}
	if jwtPattern.MatchString(everything) {
		t.Fatal("something JWT-shaped reached a page, header or log line")
	}
	key, _ := os.ReadFile(keyFile)
	for what, secret := range map[string]string{"a password": "tally-admin-pw", "a wrong password": "Wrong-Passw0rd-zq81",
		"a password tried for an unknown user": "tally-fin-pw", "the JWT key": string(key), "the JWT key (hex)": fmt.Sprintf("%x", key),
		"the JWT key (base64)": base64.StdEncoding.EncodeToString(key)} {
		if strings.Contains(everything, secret) {
			t.Errorf("%s reached a page, header or log line", what)
		}
	}
	if !strings.Contains(e.logs.String(), "tally-t-admin") {
		t.Error("the captured logs do not mention the sign-ins: the check above saw nothing")
	}
}

func TestRealmStripping(t *testing.T) {
	for _, c := range []struct {
		strip     bool
		in, slurm string
	}{
		{true, "alice@EXAMPLE.ORG", "alice"},
		{true, "alice@example.org", "alice"},
		{true, "alice", "alice"},
		{false, "alice@EXAMPLE.ORG", "alice@EXAMPLE.ORG"},
		{true, "@EXAMPLE.ORG", ""},
		{true, "alice@ANY.REALM", ""},
	} {
		s := &Server{auth: AuthConfig{StripRealm: c.strip, AllowedRealms: []string{"EXAMPLE.ORG"}}}
		got, err := s.slurmIdentity(c.in)
		if got != c.slurm || (err != nil) != (c.slurm == "") {
			t.Errorf("strip=%v %q -> %q (%v), want %q", c.strip, c.in, got, err, c.slurm)
		}
	}
}
