package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// tally demo starts, loads a synthetic cluster through the real ingest
// path, and every demo role sees a meaningful page.
func TestDemo(t *testing.T) {
	if code, _, errOut := runCmd(t, "demo", "--addr", "0.0.0.0:8080"); code != 2 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("demo on a public address: %d %s", code, errOut)
	}
	demo := runningDemo(t, "--months", "2", "--jobs-per-day", "60")
	base, passwords, pool := demo.base, demo.passwords, demo.pool
	pages := map[string]struct{ path, want string }{
		"alice":   {"/", "Charges"},
		"carol":   {"/accounts/physics", "By user"},
		"admin":   {"/admin/rates", "in force"},
		"finance": {"/jobs", "Receipt"},
	}
	for user, pg := range pages {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"username": {user}, "password": {passwords[user]}, "next": {pg.path}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || (!strings.Contains(body, pg.want) && !(user == "finance" && strings.Contains(body, "/jobs/"))) {
			t.Errorf("%s on %s: %d\n%.600s", user, pg.path, resp.StatusCode, body)
		}
	}
	var closed, charges int
	pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'closed') FROM billing_periods`).Scan(&closed)
	pool.QueryRow(context.Background(), `SELECT count(*) FROM job_charges`).Scan(&charges)
	if closed < 1 || charges < 1000 {
		t.Errorf("closed periods %d, charges %d", closed, charges)
	}
	// A first look shows budgets, one of them near its limit.
	var budgets int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM budgets`).Scan(&budgets)
	if budgets < 3 || !strings.Contains(demo.stderr(), "(near its limit)") {
		t.Errorf("demo budgets: %d\n%s", budgets, demo.stderr())
	}
	if code := demo.stop(); code != 0 {
		t.Errorf("demo exit code %d after Ctrl-C", code)
	}
}
