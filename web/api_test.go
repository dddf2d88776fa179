package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var apiTokenPattern = regexp.MustCompile(`tly_[a-z2-7]{52}`)

// makeToken makes a personal API token through Your account, as a person
// would, and returns it with its id.
func makeToken(t *testing.T, b *browser, name string) (string, int64) {
	t.Helper()
	resp, body := b.post("/me/tokens", url.Values{"name": {name}, "expires_days": {"30"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("making a token: %d\n%s", resp.StatusCode, body)
	}
	found := apiTokenPattern.FindAllString(body, -1)
	if len(found) != 1 {
		t.Fatalf("the page shows %d tokens, want the new one once", len(found))
	}
	var id int64
	sum := sha256.Sum256([]byte(found[0]))
	if err := b.e.srv.pool.QueryRow(context.Background(), `SELECT id FROM api_tokens WHERE token_sha256 = $1`, sum[:]).Scan(&id); err != nil {
		t.Fatalf("the new token's hash is not in api_tokens: %v", err)
	}
	return found[0], id
}

// apiCall sends one API request with a bearer token (none when token is
// "") and returns the status, headers and body.
func apiCall(t *testing.T, e *testEnv, method, path, token string, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func apiGet(t *testing.T, e *testEnv, path, token string) (*http.Response, string) {
	t.Helper()
	return apiCall(t, e, "GET", path, token, "", nil)
}

// decode reads a JSON answer into out, failing the test on anything else.
func decode(t *testing.T, body string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("not the JSON expected: %v\n%s", err, body)
	}
}

// errorCode is the code of an API error answer, checking its shape.
func errorCode(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answered as %q, not JSON", ct)
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	decode(t, body, &e)
	if e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error without a code and message: %s", body)
	}
	return e.Error.Code
}

// A token is shown once, kept as a hash, works at once, and is refused at
// once when revoked or expired; its owner's other ids and other people's
// tokens stay out of reach.
func TestAPITokenLifecycle(t *testing.T) {
	e := newAuthServer(t, "", nil)
	ctx := context.Background()
	alice := newBrowser(t, e)
	alice.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, id := makeToken(t, alice, "ledger import")

	// Only the hash: no column of the row holds the token or part of it.
	var row string
	if err := e.srv.pool.QueryRow(ctx, `SELECT row_to_json(t)::text FROM api_tokens t WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, token) || strings.Contains(row, token[4:20]) {
		t.Fatalf("api_tokens holds the token: %s", row)
	}
	// Shown once: Your account lists it by name, never the token again.
	_, body := alice.get("/me")
	if strings.Contains(body, token) || !strings.Contains(body, "ledger import") {
		t.Fatal("Your account shows the token again, or does not list it")
	}

	resp, body := apiGet(t, e, "/api/v1/me", token)
	if resp.StatusCode != 200 {
		t.Fatalf("/api/v1/me: %d %s", resp.StatusCode, body)
	}
	var me apiMe
	decode(t, body, &me)
	if me.SlurmUser != "tally-t-alice" || !slices.Equal(me.Roles, []string{"researcher"}) || me.Token.ID != id || me.Token.Scope != "read" ||
		me.Token.ExpiresAt == nil {
		t.Errorf("/api/v1/me: %+v", me)
	}
	var used *time.Time
	var from string
	e.srv.pool.QueryRow(ctx, `SELECT last_used_at, last_used_from FROM api_tokens WHERE id = $1`, id).Scan(&used, &from)
	if used == nil || from != "127.0.0.1" {
		t.Errorf("last use not recorded: %v %q", used, from)
	}

	// Someone else cannot revoke it: 404, as for anything not theirs.
	coord := newBrowser(t, e)
	coord.login("tally-t-coord", pamUsers["tally-t-coord"], "/")
	if resp, _ := coord.post(fmt.Sprintf("/me/tokens/%d/revoke", id), nil); resp.StatusCode != 404 {
		t.Fatalf("another person revoking alice's token: %d", resp.StatusCode)
	}
	if resp, _ := apiGet(t, e, "/api/v1/me", token); resp.StatusCode != 200 {
		t.Fatalf("alice's token after another's revoke attempt: %d", resp.StatusCode)
	}

	// Revoked: refused on the very next request.
	if resp, _ := alice.post(fmt.Sprintf("/me/tokens/%d/revoke", id), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoking: %d", resp.StatusCode)
	}
	resp, body = apiGet(t, e, "/api/v1/me", token)
	if resp.StatusCode != 401 || errorCode(t, resp, body) != "token_revoked" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("revoked token: %d %s", resp.StatusCode, body)
	}

	// Expired: refused too.
	expired, hash, _ := newAPIToken()
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO api_tokens (username, slurm_user, name, token_sha256, created_at, expires_at)
		VALUES ('tally-t-alice', 'tally-t-alice', 'old', $1, now() - interval '2 days', now() - interval '1 second')`, hash[:]); err != nil {
		t.Fatal(err)
	}
	resp, body = apiGet(t, e, "/api/v1/me", expired)
	if resp.StatusCode != 401 || errorCode(t, resp, body) != "token_expired" {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
	// The database keeps a revoked token revoked.
	if _, err := e.srv.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = $1`, id); err == nil {
		t.Error("a revoked token could be revived")
	}

	// An admin revokes anyone's.
	token2, id2 := makeToken(t, coord, "login node")
	admin := newBrowser(t, e)
	admin.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	if _, body := admin.get("/admin/tokens"); !strings.Contains(body, "login node") || strings.Contains(body, token2) {
		t.Error("/admin/tokens does not list coord's token, or shows it")
	}
	if resp, _ := admin.post(fmt.Sprintf("/admin/tokens/%d/revoke", id2), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin revoking: %d", resp.StatusCode)
	}
	if resp, _ := apiGet(t, e, "/api/v1/me", token2); resp.StatusCode != 401 {
		t.Fatalf("token revoked by an admin: %d", resp.StatusCode)
	}

	// Made and revoked: in the audit log, without the token.
	var events string
	e.srv.pool.QueryRow(ctx, `SELECT string_agg(actor || ' ' || action || ' ' || detail, E'\n' ORDER BY id) FROM admin_events`).Scan(&events)
	for _, want := range []string{"tally-t-alice api_token_created", "tally-t-alice api_token_revoked", "tally-t-coord api_token_created",
		"tally-t-admin api_token_revoked"} {
		if !strings.Contains(events, want) {
			t.Errorf("audit log lacks %q:\n%s", want, events)
		}
	}
	if strings.Contains(events, token) || strings.Contains(events, token2) {
		t.Error("a token reached the audit log")
	}
}

// The forms refuse what they should: no name, a silly expiry, too many.
func TestAPITokenFormRefusals(t *testing.T) {
	e := newAuthServer(t, "", nil)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {"  "}}, "Give the token a name"},
		{url.Values{"name": {"x"}, "expires_days": {"0"}}, "Expiry"},
		{url.Values{"name": {"x"}, "expires_days": {"99999"}}, "Expiry"},
		{url.Values{"name": {strings.Repeat("n", 101)}}, "Give the token a name"},
	} {
		resp, body := b.post("/me/tokens", c.form)
		if resp.StatusCode != 422 || !strings.Contains(body, c.want) || apiTokenPattern.MatchString(body) {
			t.Errorf("%v: %d", c.form, resp.StatusCode)
		}
	}
	for i := range maxActiveTokens {
		makeToken(t, b, "t"+strconv.Itoa(i))
	}
	if resp, body := b.post("/me/tokens", url.Values{"name": {"one too many"}}); resp.StatusCode != 422 || apiTokenPattern.MatchString(body) {
		t.Errorf("token %d: %d", maxActiveTokens+1, resp.StatusCode)
	}
	// Cross-site: the form is refused like every other.
	req, _ := http.NewRequest("POST", e.http.URL+"/me/tokens", strings.NewReader("name=evil"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := b.do(req); resp.StatusCode != 403 {
		t.Errorf("cross-site token form: %d", resp.StatusCode)
	}
}

// A signed-in browser's cookie opens nothing under /api: the API takes a
// bearer token only, so a page on another site cannot read it with the
// person's session. A token with a cookie beside it is the token's owner.
func TestAPICookieOnlyRequestRefused(t *testing.T) {
	e := newAuthServer(t, "", nil)
	admin := newBrowser(t, e)
	admin.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	for _, path := range []string{"/api/v1/me", "/api/v1/jobs", "/api/v1/rates"} {
		resp, body := admin.get(path)
		if resp.StatusCode != 401 || errorCode(t, resp, body) != "unauthenticated" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s with only the session cookie: %d %s", path, resp.StatusCode, body)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no Bearer challenge", path)
		}
	}
	alice := newBrowser(t, e)
	alice.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, _ := makeToken(t, alice, "script")
	req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/rates", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, _ := admin.do(req); resp.StatusCode != 403 {
		t.Errorf("alice's token with the admin's cookie read admin data: %d", resp.StatusCode)
	}
	// A cross-site POST with a token is the token's business, not a form's.
	resp, body := apiCall(t, e, "POST", "/api/v1/estimate", token, `{"partition":"cpu","cpus":2,"time":"1:00:00"}`,
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != 200 && resp.StatusCode != 422 {
		t.Errorf("estimate with a token from another origin: %d %s", resp.StatusCode, body)
	}
}

// Every API answer that is not 200 is {"error":{"code","message"}} with
// the status HTTP means, and a stable code.
func TestAPIErrorShapes(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)
	alice := newBrowser(t, e)
	alice.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, _ := makeToken(t, alice, "errors")
	for _, c := range []struct {
		method, path, token, body string
		header                    map[string]string
		status                    int
		code                      string
	}{
		{"GET", "/api/v1/me", "", "", nil, 401, "unauthenticated"},
		{"GET", "/api/v1/me", "tly_notatoken", "", nil, 401, "invalid_token"},
		{"GET", "/api/v1/me", "tly_" + strings.Repeat("a", 52), "", nil, 401, "invalid_token"},
		{"GET", "/api/v1/me", "", "", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, 401, "unauthenticated"},
		{"GET", "/api/v1/periods", token, "", nil, 403, "forbidden"},
		{"GET", "/api/v1/jobs/999999999", token, "", nil, 404, "not_found"},
		{"GET", "/api/v1/jobs/not-a-number", token, "", nil, 404, "not_found"},
		{"GET", "/api/v1/statements/" + period + "/tally-t-fin", token, "", nil, 404, "not_found"},
		{"GET", "/api/v1/nowhere", token, "", nil, 404, "not_found"},
		{"GET", "/api", token, "", nil, 404, "not_found"},
		{"POST", "/api/v1/jobs", token, "{}", nil, 405, "method_not_allowed"},
		{"GET", "/api/v1/jobs?from=yesterday", token, "", nil, 422, "invalid_input"},
		{"GET", "/api/v1/jobs?after=v.1.0000-01-01T00:00:00Z", token, "", nil, 422, "invalid_input"},
		{"GET", "/api/v1/jobs?limit=0", token, "", nil, 422, "invalid_input"},
		{"GET", "/api/v1/jobs?q=%00", token, "", nil, 422, "invalid_input"},
		{"GET", "/api/v1/jobs?q=" + strings.Repeat("x", 300), token, "", nil, 422, "invalid_input"},
		{"POST", "/api/v1/estimate", token, `{"partition":"cpu","cpus":"lots","time":"1:00:00"}`, nil, 422, "invalid_input"},
		{"POST", "/api/v1/estimate", token, `{"partition":"cpu","cpus":2}`, nil, 422, "invalid_input"},
		{"POST", "/api/v1/estimate", token, `{"partition":"cpu","time":"1:00:00","gpus":"\u0000"}`, nil, 422, "invalid_input"},
		{"POST", "/api/v1/estimate", token, `{"partition":`, nil, 400, "bad_request"},
		{"POST", "/api/v1/estimate", token, `{"nodes":3}`, nil, 400, "bad_request"},
		{"POST", "/api/v1/estimate", token, `x`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"POST", "/api/v1/estimate", token, `{"partition":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "too_large"},
	} {
		resp, body := apiCall(t, e, c.method, c.path, c.token, c.body, c.header)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d\n%s", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		if code := errorCode(t, resp, body); code != c.code {
			t.Errorf("%s %s: code %q, want %q", c.method, c.path, code, c.code)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", c.method, c.path, resp.Header.Get("Cache-Control"))
		}
	}
}

// A token's requests per minute are limited: then 429 with Retry-After,
// for that token only.
func TestAPIRateLimit(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) { c.API.RatePerMinute = 3 })
	alice := newBrowser(t, e)
	alice.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, _ := makeToken(t, alice, "busy script")
	other, _ := makeToken(t, alice, "quiet script")
	for i := range 3 {
		if resp, _ := apiGet(t, e, "/api/v1/me", token); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := apiGet(t, e, "/api/v1/me", token)
	if resp.StatusCode != 429 || errorCode(t, resp, body) != "rate_limited" {
		t.Fatalf("4th request in a minute: %d %s", resp.StatusCode, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 20 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp, _ := apiGet(t, e, "/api/v1/me", other); resp.StatusCode != 200 {
		t.Errorf("another token of the same person: %d", resp.StatusCode)
	}
}

func TestAPIRateLimiterRefills(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		perMinute int
		at        []time.Duration // when each request is made
		want      []bool
	}{
		{"a burst of the limit passes", 3, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, false}},
		{"one more a twentieth of a minute later", 3, []time.Duration{0, 0, 0, 0, 20 * time.Second, 20 * time.Second}, []bool{true, true, true, false, true, false}},
		{"full again after a minute", 2, []time.Duration{0, 0, 0, time.Minute, time.Minute, time.Minute}, []bool{true, true, false, true, true, false}},
		{"off", 0, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newRateLimiter(c.perMinute)
			for i, at := range c.at {
				ok, wait := l.take(7, t0.Add(at))
				if ok != c.want[i] {
					t.Fatalf("request %d at %v: %v, want %v", i+1, at, ok, c.want[i])
				}
				if !ok && (wait <= 0 || wait > time.Minute) {
					t.Fatalf("request %d: wait %v", i+1, wait)
				}
			}
		})
	}
}

// A token is a secret: no log line, audit entry or page but the one that
// made it holds it, whatever the requests do with it.
func TestAPITokenNeverInLogs(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) { c.API.RatePerMinute = 5 })
	seedWithPeriod(t, e)
	alice := newBrowser(t, e)
	alice.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, id := makeToken(t, alice, "logged?")
	for _, p := range []string{"/api/v1/me", "/api/v1/jobs?q=" + token, "/api/v1/nowhere", "/api/v1/jobs/x", "/api/v1/periods", "/api/v1/me", "/api/v1/me"} {
		apiGet(t, e, p, token)
	}
	apiCall(t, e, "POST", "/api/v1/estimate", token, `{"partition":"`+token+`"}`, nil)
	apiGet(t, e, "/api/v1/me", token+"x")
	apiGet(t, e, "/api/v1/me?access_token="+token, "")
	alice.post(fmt.Sprintf("/me/tokens/%d/revoke", id), nil)
	apiGet(t, e, "/api/v1/me", token)
	logs := e.logs.String()
	if !strings.Contains(logs, "/api/v1/me") {
		t.Fatal("the captured logs do not show the API requests: the check below saw nothing")
	}
	if strings.Contains(logs, token) || strings.Contains(logs, token[4:30]) {
		t.Fatal("the token reached a log line")
	}
	var rows string
	e.srv.pool.QueryRow(context.Background(), `SELECT concat((SELECT string_agg(detail, ' ') FROM admin_events),
		(SELECT string_agg(detail, ' ') FROM auth_events), (SELECT string_agg(row_to_json(t)::text, ' ') FROM api_tokens t))`).Scan(&rows)
	if strings.Contains(rows, token[4:30]) {
		t.Fatal("the token reached the database")
	}
}

// No CORS headers unless an origin is configured; then that origin, and
// only it, may call the API from a browser, with a token and never with
// credentials (cookies).
func TestAPICORS(t *testing.T) {
	const ood = "https://ondemand.example.org"
	for _, c := range []struct {
		name    string
		allowed []string
		origin  string
		want    string // Access-Control-Allow-Origin
	}{
		{"none configured", nil, ood, ""},
		{"the configured origin", []string{ood}, ood, ood},
		{"another origin", []string{ood}, "https://evil.example", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestServer(t, func(cfg *Config, d *Deps) { cfg.API.CORSOrigins = c.allowed })
			pre, _ := apiCall(t, e, "OPTIONS", "/api/v1/jobs", "", "", map[string]string{"Origin": c.origin,
				"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
			get, body := apiCall(t, e, "GET", "/api/v1/me", "", "", map[string]string{"Origin": c.origin})
			if got := get.Header.Get("Access-Control-Allow-Origin"); got != c.want {
				t.Errorf("GET: Allow-Origin %q, want %q", got, c.want)
			}
			if get.StatusCode != 401 || errorCode(t, get, body) != "unauthenticated" {
				t.Errorf("GET without a token: %d", get.StatusCode)
			}
			if c.want == "" {
				if pre.Header.Get("Access-Control-Allow-Origin") != "" || pre.Header.Get("Access-Control-Allow-Headers") != "" {
					t.Errorf("preflight answered with CORS headers: %v", pre.Header)
				}
				return
			}
			if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != c.origin ||
				!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
			}
			for _, h := range []*http.Response{pre, get} {
				if h.Header.Get("Access-Control-Allow-Credentials") != "" {
					t.Error("credentials allowed")
				}
			}
		})
	}
}
