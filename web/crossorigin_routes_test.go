package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every state-changing route, posted from another site with an admin's
// session cookie (what a forged form on evil.example would send), is
// refused before its handler runs; nothing changes.
func TestCrossOriginRefusedOnEveryPost(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)
	fill := strings.NewReplacer("{name}", period, "{account}", "chem")

	b := newBrowser(t, e)
	if resp, _ := b.login("tally-t-admin", "tally-admin-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	before := billingState(t, e)
	posts := 0
	for _, p := range e.srv.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || method != "POST" || isAPIPath(path) { // the API reads no cookie: TestAPICookieOnlyRequestRefused
			continue
		}
		posts++
		form := url.Values{"ack": {"1"}, "account": {"chem"}, "amount": {"-100.00"}, "reason": {"forged"}, "display_name": {"Forged"},
			"spec": {"name: x\ncurrency: USD\nversions: []\n"}, "hours": {"1"}, "username": {"tally-t-alice"}, "password": {"tally-alice-pw"}}
		for _, headers := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
			{"Origin": "https://evil.example"}, // a browser that sends no Sec-Fetch-Site
		} {
			req, _ := http.NewRequest("POST", e.http.URL+fill.Replace(path), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			resp, body := b.do(req)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") {
				t.Errorf("%s with %v: %d", p, headers, resp.StatusCode)
			}
		}
	}
	if posts < 7 {
		t.Fatalf("only %d POST routes found", posts)
	}
	if after := billingState(t, e); after != before {
		t.Errorf("forged posts changed the database:\n before %s\n after  %s", before, after)
	}
	// The admin is still signed in: the forged logout did nothing either.
	if resp, _ := b.get("/admin/audit"); resp.StatusCode != 200 {
		t.Errorf("after forged posts the admin's session: %d", resp.StatusCode)
	}
}
