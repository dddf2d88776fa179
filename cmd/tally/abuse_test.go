package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Item 7 of the second hostile-input round: the demo took neither the
// sign-in throttle nor --trusted-origins; it must run with serve's settings.
func TestAbuse07DemoUsesServeSettings(t *testing.T) {
	demo := runningDemo(t, "--months", "1", "--jobs-per-day", "10",
		"--login-max-failures", "2", "--login-failure-floor", "0", "--trusted-origins", "https://portal.example.org")
	post := func(password, origin string) int {
		req, _ := http.NewRequest("POST", demo.base+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A trusted origin may post the sign-in form; an unknown one may not.
	if got := post("wrong", "https://elsewhere.example.net"); got != http.StatusForbidden {
		t.Errorf("sign-in from an untrusted origin: %d, want 403", got)
	}
	if got := post("wrong", "https://portal.example.org"); got != http.StatusUnauthorized {
		t.Errorf("wrong password from the trusted origin: %d, want 401", got)
	}
	if got := post("wrong", "https://portal.example.org"); got != http.StatusUnauthorized {
		t.Errorf("second wrong password: %d, want 401", got)
	}
	// Two failures allowed: the right password now waits as well.
	if got := post(demo.passwords["alice"], "https://portal.example.org"); got != http.StatusTooManyRequests {
		t.Errorf("sign-in after two failures with --login-max-failures 2: %d, want 429", got)
	}
}
