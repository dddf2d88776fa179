package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/static"
)

type testEnv struct {
	srv  *Server
	http *httptest.Server
	logs *strings.Builder
}

func newTestServer(t testing.TB, mutate func(*Config, *Deps)) *testEnv {
	t.Helper()
	pool := pgtest.New(t)
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	cfg := Config{Version: "test", CookieSecure: "auto", SessionIdleTimeout: 30 * time.Minute, SessionLifetime: 12 * time.Hour}
	deps := Deps{
		Log:    slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil)),
		Pool:   pool,
		Assets: assets,
		Ready:  func(ctx context.Context) error { return pool.Ping(ctx) },
	}
	if mutate != nil {
		mutate(&cfg, &deps)
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &testEnv{srv: s, http: hs, logs: logs}
}

func (e *testEnv) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := e.http.Client().Get(e.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newTestServer(t, nil)
	for _, path := range []string{"/", "/healthz", "/no-such-page"} {
		resp, _ := e.get(t, path)
		h := resp.Header
		for k, want := range map[string]string{
			"X-Frame-Options":        "DENY",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
		} {
			if h.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no request id", path)
		}
	}
}

func TestLayoutAndNotFound(t *testing.T) {
	e := newTestServer(t, nil)
	resp, body := e.get(t, "/")
	if resp.StatusCode != 200 || !strings.Contains(body, "<title>Tally</title>") || !strings.Contains(body, "Tally test") {
		t.Fatalf("home: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=\"") && strings.Contains(body, "<style") {
		t.Error("inline script in layout")
	}
	resp, body = e.get(t, "/nowhere")
	if resp.StatusCode != 404 || !strings.Contains(body, "Not found") {
		t.Fatalf("404 page: %d", resp.StatusCode)
	}
}

func TestStaticAssetsAreHashedAndCached(t *testing.T) {
	e := newTestServer(t, nil)
	url := e.srv.assets.URL("css/tally.css")
	if !strings.HasPrefix(url, "/static/css/tally.") || url == "/static/css/tally.css" {
		t.Fatalf("unhashed URL %q", url)
	}
	resp, body := e.get(t, url)
	if resp.StatusCode != 200 || !strings.Contains(body, "--brand") {
		t.Fatalf("asset: %d", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q", cc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q", ct)
	}
	if resp, _ := e.get(t, "/static/css/tally.css"); resp.StatusCode != 404 {
		t.Errorf("unhashed name served: %d", resp.StatusCode)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newTestServer(t, nil)
	req, _ := http.NewRequest("POST", e.http.URL+"/logout", strings.NewReader(""))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "another site") {
		t.Fatalf("cross-origin POST: %d\n%s", resp.StatusCode, body)
	}
	// The same request from this origin passes the check.
	req, _ = http.NewRequest("POST", e.http.URL+"/logout", strings.NewReader(""))
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		t.Fatal("same-origin POST refused")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var down bool
	e := newTestServer(t, func(c *Config, d *Deps) {
		d.Ready = func(ctx context.Context) error {
			if down {
				return errors.New("database unreachable")
			}
			return nil
		}
	})
	if resp, body := e.get(t, "/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.get(t, "/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz up: %d", resp.StatusCode)
	}
	down = true
	if resp, body := e.get(t, "/readyz"); resp.StatusCode != 503 || !strings.Contains(body, "unreachable") {
		t.Errorf("readyz down: %d %q", resp.StatusCode, body)
	}
	down = false
	if resp, _ := e.get(t, "/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz recovered: %d", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	e := newTestServer(t, nil)
	// A committed window ending at 12:00, then two that failed.
	if _, err := e.srv.pool.Exec(context.Background(), `INSERT INTO ingest_runs
		(window_start, window_end, source, trigger, started_at, finished_at, jobs_rejected, error) VALUES
		('2026-11-24 11:00Z', '2026-11-24 12:00Z', 'rest', 'schedule', '2026-11-24 12:00:05Z', '2026-11-24 12:00:10Z', 3, ''),
		('2026-11-24 12:00Z', '2026-11-24 12:10Z', 'none', 'schedule', '2026-11-24 12:10:05Z', '2026-11-24 12:10:06Z', 0, 'sacct exited 1'),
		('2026-11-24 12:00Z', '2026-11-24 12:20Z', 'none', 'schedule', '2026-11-24 12:20:05Z', '2026-11-24 12:20:06Z', 0, 'sacct exited 1')`); err != nil {
		t.Fatal(err)
	}
	e.get(t, "/")
	e.get(t, "/nowhere")
	resp, body := e.get(t, "/metrics")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`tally_http_requests_total{route="GET /{$}",method="GET",code="200"} 1`,
		`tally_http_requests_total{route="/",method="GET",code="404"} 1`,
		`tally_http_request_duration_seconds_count{route="GET /{$}",method="GET"} 1`,
		`tally_db_pool_connections{state="total"}`,
		`tally_db_pool_max_connections`,
		"tally_ingest_up 1",
		"tally_ingest_last_success_timestamp_seconds 1795521610",
		"tally_ingest_records_until_timestamp_seconds 1795521600",
		"tally_ingest_failed_windows_since_success 2",
		"tally_ingest_rejected_records_total 3",
		"tally_ingest_fallback_windows_since_rest 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSecureCookieBehindTrustedProxy(t *testing.T) {
	cases := []struct {
		name       string
		trust      bool
		mode       string
		proto      string
		wantSecure bool
	}{
		{"plain http", false, "auto", "", false},
		{"untrusted proxy header", false, "auto", "https", false},
		{"trusted proxy says https", true, "auto", "https", true},
		{"always", false, "always", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestServer(t, func(c *Config, d *Deps) { c.TrustProxy = tc.trust; c.CookieSecure = tc.mode })
			// A flash forces the session to be written, so a cookie is set.
			e.srv.mux.HandleFunc("GET /test/flash", func(w http.ResponseWriter, r *http.Request) {
				e.srv.flash(r, "info", "hello")
				w.WriteHeader(204)
			})
			req, _ := http.NewRequest("GET", e.http.URL+"/test/flash", nil)
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			resp, err := e.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sc := resp.Header.Get("Set-Cookie")
			if !strings.Contains(sc, sessionCookie+"=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
				t.Fatalf("cookie %q", sc)
			}
			if got := strings.Contains(sc, "Secure"); got != tc.wantSecure {
				t.Errorf("Secure=%v in %q, want %v", got, sc, tc.wantSecure)
			}
		})
	}
}
