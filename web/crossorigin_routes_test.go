package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// Every state-changing route, posted from another site with an admin's
// session cookie (what a forged form on evil.example would send), is
// refused before its handler runs; nothing changes.
func TestCrossOriginRefusedOnEveryPost(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	ctx := context.Background()
	month := time.Date(time.Now().UTC().Year(), time.Now().UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	billingpg.New(e.srv.pool).EnsureMonths(ctx, month, month.AddDate(0, 1, 0))
	fill := strings.NewReplacer("{name}", month.Format("2006-01"), "{account}", "chem")

	b := newBrowser(t, e)
	if resp, _ := b.login("tally-t-admin", "tally-admin-pw", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	state := func() string {
		var s string
		if err := e.srv.pool.QueryRow(ctx, `SELECT concat_ws(' ', (SELECT count(*) FROM rate_cards), (SELECT count(*) FROM adjustments),
			(SELECT count(*) FROM account_details), (SELECT count(*) FROM ingest_runs), (SELECT count(*) FROM statements),
			(SELECT count(*) FROM sessions), (SELECT string_agg(status, ',' ORDER BY name) FROM billing_periods))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	posts := 0
	for _, p := range e.srv.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || method != "POST" {
			continue
		}
		posts++
		form := url.Values{"ack": {"1"}, "account": {"chem"}, "amount": {"-100.00"}, "reason": {"forged"}, "display_name": {"Forged"},
			"yaml": {"name: x\ncurrency: USD\nversions: []\n"}, "hours": {"1"}, "username": {"tally-t-alice"}, "password": {"tally-alice-pw"}}
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
	if after := state(); after != before {
		t.Errorf("forged posts changed the database:\n before %s\n after  %s", before, after)
	}
	// The admin is still signed in: the forged logout did nothing either.
	if resp, _ := b.get("/admin/audit"); resp.StatusCode != 200 {
		t.Errorf("after forged posts the admin's session: %d", resp.StatusCode)
	}
}
