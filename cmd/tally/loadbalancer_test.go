package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/testenv"
)

// Two `tally serve` behind a real HAProxy, configured as docs/deploy.md
// says, and one person in a real browser: they sign in through the proxy,
// their pages are served by both servers, one server is killed mid-session
// and they stay signed in and their write lands once, sign-out on the
// survivor ends the session everywhere, and the scheduled ingest runs once.
func TestLoadBalancedBrowserSession(t *testing.T) {
	if _, err := os.Stat("/etc/pam.d/tally-test"); err != nil {
		testenv.Missing(t, "PAM service tally-test missing: run scripts/test-pam-setup.sh as root")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if haproxy, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			testenv.Missing(t, "haproxy missing: scripts/deps.sh test installs it")
		}
	}
	began := time.Now()
	site := newFaultSite(t)
	bin := buildTally(t)
	t.Logf("%s: built", time.Since(began))
	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	if code, out := runIn(t, url, site.ingestArgs()...); code != 0 {
		t.Fatalf("ingest: %d\n%s", code, out)
	}
	billAndClose(t, url) // rates and an open October, rated
	before := committedWindows(pool)

	key := filepath.Join(t.TempDir(), "session.key")
	if code, out := runIn(t, url, "keygen", key); code != 0 {
		t.Fatalf("keygen: %d\n%s", code, out)
	}
	t.Setenv("TALLY_ADDR", "127.0.0.1:0")
	t.Setenv("TALLY_PAM_SERVICE", "tally-test")
	t.Setenv("TALLY_SESSION_KEY_FILE", key) // one key: a session sealed by one opens on the other
	t.Setenv("TALLY_TRUST_PROXY", "true")
	t.Setenv("TALLY_INGEST_INTERVAL", "1h") // each schedules one run, 5 s after start
	t.Setenv("TALLY_SACCTMGR", "/bin/false")
	t.Setenv("TALLY_LOGIN_FAILURE_FLOOR", "0s")
	var servers []*exec.Cmd
	var logs []*bytes.Buffer
	for range 2 {
		cmd, out := startTally(t, bin, url, "serve")
		servers, logs = append(servers, cmd), append(logs, out)
	}
	var backends []string
	for _, out := range logs {
		backends = append(backends, strings.TrimPrefix(serveURL(t, out), "http://"))
	}
	lb := startHAProxy(t, haproxy, backends)
	t.Logf("%s: serving", time.Since(began))

	// The browser records which server answered each page (the proxy
	// names it in X-Served-By).
	ctx := testenv.Browser(t)
	var mu sync.Mutex
	servedBy := map[string]string{} // request id → server
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument {
			for name, v := range e.Response.Headers {
				// HAProxy sends header names in lower case.
				if s, ok := v.(string); ok && strings.EqualFold(name, "X-Served-By") {
					mu.Lock()
					servedBy[string(e.RequestID)] = s
					mu.Unlock()
				}
			}
		}
	})
	seen := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		n := map[string]int{}
		for _, s := range servedBy {
			n[s]++
		}
		clear(servedBy)
		return n
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// signedInPages visits pages and says whether each showed the person
	// signed in (the header names them) rather than the sign-in form.
	signedInPages := func(paths ...string) {
		t.Helper()
		for _, p := range paths {
			var who string
			run("visit "+p, chromedp.Navigate(lb+p), chromedp.WaitReady("body"),
				chromedp.Evaluate(`(document.querySelector('.who')||{}).textContent||''`, &who))
			if !strings.Contains(who, "tally-t-admin") {
				t.Fatalf("%s through the proxy: not signed in (header %q)", p, who)
			}
		}
	}

	run("sign in through the proxy", network.Enable(),
		chromedp.Navigate(lb+"/me"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, "tally-t-admin"),
		chromedp.SendKeys(`input[name=password]`, "tally-admin-pw"),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#slurm-access`))
	seen()
	signedInPages("/me", "/jobs", "/periods", "/accounts", "/me", "/jobs", "/periods/2026-10")
	if n := seen(); n["tally1"] == 0 || n["tally2"] == 0 {
		t.Fatalf("pages were not spread over both servers: %v", n)
	}

	// Both servers scheduled an ingest 5 s after start; one ran it (before
	// tally1 is killed, which could otherwise stop the run it holds).
	waitUntil(t, "both servers' scheduled ingest", func() bool {
		done := 0
		for _, l := range logs {
			if strings.Contains(l.String(), "ingest finished") || strings.Contains(l.String(), "ingest skipped") {
				done++
			}
		}
		return done == 2
	})
	all := logs[0].String() + logs[1].String()
	var windows, distinct int
	pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT window_start) FROM ingest_runs WHERE trigger = 'schedule'`).Scan(&windows, &distinct)
	if strings.Count(all, "ingest finished") != 1 || windows != distinct || committedWindows(pool) != before+windows {
		t.Errorf("scheduled ingest: %d runs finished, %d windows (%d distinct)\n%s\n%s",
			strings.Count(all, "ingest finished"), windows, distinct, logs[0], logs[1])
	}

	// tally1 dies mid-session.
	servers[0].Process.Kill()
	servers[0].Wait()
	signedInPages("/me", "/jobs", "/periods", "/accounts", "/periods/2026-10")
	if n := seen(); n["tally1"] != 0 || n["tally2"] == 0 {
		t.Fatalf("after tally1 died, pages served by %v", n)
	}
	// A write after the failure lands, once.
	var status int
	run("add an adjustment", chromedp.Evaluate(`fetch('/periods/2026-10/adjustments', {method: 'POST', redirect: 'manual',
		headers: {'Content-Type': 'application/x-www-form-urlencoded'},
		body: 'account=chem&amount=-12.50&reason=after+a+server+died'}).then(r => r.type === 'opaqueredirect' ? 303 : r.status)`,
		&status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var adjustments int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM adjustments WHERE reason = 'after a server died'`).Scan(&adjustments)
	if status != http.StatusSeeOther || adjustments != 1 {
		t.Fatalf("adjustment after the failure: status %d, %d rows", status, adjustments)
	}

	// Sign-out on the survivor ends the session: the next page asks again.
	var next string
	run("sign out", chromedp.Navigate(lb+"/me"), chromedp.WaitVisible(`.who button`),
		chromedp.Click(`.who button`), chromedp.WaitVisible(`input[name=username]`))
	run("after sign-out", chromedp.Navigate(lb+"/me"), chromedp.WaitVisible(`input[name=username]`), chromedp.Location(&next))
	if !strings.Contains(next, "/login") {
		t.Errorf("after sign-out /me went to %s", next)
	}

	t.Logf("%s: signed out", time.Since(began))
}

// startHAProxy runs HAProxy in the foreground in front of the backends,
// with the health check, forwarded headers and failover of docs/deploy.md
// (TLS left out), and returns its URL once it answers.
func startHAProxy(t *testing.T, bin string, backends []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "    server tally%d %s check\n", i+1, b)
	}
	cfg := fmt.Sprintf(`global
    log stdout format raw local0 info

defaults
    mode http
    log global
    timeout connect 2s
    timeout client  60s
    timeout server  60s
    retries 3
    option redispatch

frontend portal
    bind %s
    http-request del-header X-Forwarded-For
    option forwardfor
    default_backend tally

backend tally
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 1 rise 1
    http-response set-header X-Served-By %%[srv_name]
%s`, addr, servers.String())
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	waitUntil(t, "HAProxy to pass requests", func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}
