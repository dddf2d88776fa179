package web

import (
	"net/url"
	"strings"
	"testing"
)

// Every route Tally serves has a row in an authorisation test: this one
// for the routes TestAuthorisationMatrixWithForeignIDs does not visit (the
// state-changing admin forms and the pages without someone else's id),
// and it fails when a route is added that no test checks.
func TestEveryRouteIsInTheMatrix(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)

	// Routes checked elsewhere: public ones, and those in the foreign-id matrix.
	checkedElsewhere := map[string]string{
		"/": "TestLayoutAndNotFound (the not-found page)", "GET /healthz": "public", "GET /readyz": "public", "GET /metrics": "TestMetrics",
		"GET /login": "public", "POST /login": "TestLoginLogout", "POST /logout": "TestLoginLogout",
		"POST /refresh": "TestLiveSlurmSession (the person's own records only)",
		"GET /jobs":     "foreign ids", "GET /jobs.csv": "foreign ids", "GET /jobs/{id}": "foreign ids",
		"GET /jobs/{id}/receipt.pdf": "foreign ids", "GET /jobs/{cluster}/{slurmid}": "foreign ids",
		"GET /jobs/{cluster}/{slurmid}/receipt.pdf": "foreign ids", "GET /accounts": "foreign ids", "GET /accounts/{account}": "foreign ids",
		"GET /statements": "foreign ids", "GET /statements/{period}/{user}": "foreign ids", "GET /periods/{name}": "foreign ids",
		"GET /periods/{name}/accounts.csv": "foreign ids", "GET /periods/{name}/jobs.csv": "foreign ids",
		"GET /periods/{name}/adjustments.csv": "foreign ids", "GET /finance/{name}/accounts.csv": "foreign ids",
		"GET /finance/{name}/jobs.csv": "foreign ids", "GET /finance/{name}/adjustments.csv": "foreign ids",
		"GET /periods/{name}/statement.pdf": "foreign ids", "GET /admin/accounts": "foreign ids", "GET /admin/rates": "foreign ids",
		"GET /finance": "foreign ids", "GET /admin/audit": "foreign ids", "GET /admin/users": "foreign ids", "GET /admin/ingest": "foreign ids",
	}
	type row struct {
		pattern, method, path string
		form                  url.Values
		status                map[string]int // by user
	}
	everyone := func(code int) map[string]int {
		return map[string]int{"tally-t-alice": code, "tally-t-coord": code, "tally-t-fin": code, "tally-t-admin": code}
	}
	adminOnly := map[string]int{"tally-t-alice": 403, "tally-t-coord": 403, "tally-t-fin": 403}
	rows := []row{
		{"GET /{$}", "GET", "/", nil, everyone(200)},
		{"GET /me", "GET", "/me", nil, everyone(200)},
		{"GET /jobs/running", "GET", "/jobs/running", nil, everyone(200)}, // the person's own jobs, read with their own token
		{"GET /estimate", "GET", "/estimate?partition=cpu&cpus=4&walltime=1:00:00", nil, everyone(200)},
		{"GET /prices", "GET", "/prices", nil, everyone(200)},
		{"GET /periods", "GET", "/periods", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 200, "tally-t-fin": 200, "tally-t-admin": 200}},
		// State changes: refused for everyone but admins, and nothing changes.
		{"POST /periods/{name}/close", "POST", "/periods/" + period + "/close", url.Values{"ack": {"1"}}, adminOnly},
		{"POST /periods/{name}/preview", "POST", "/periods/" + period + "/preview", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 403}},
		{"GET /periods/{name}/adjustments", "GET", "/periods/" + period + "/adjustments", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 403, "tally-t-fin": 403, "tally-t-admin": 200}},
		{"POST /periods/{name}/adjustments", "POST", "/periods/" + period + "/adjustments",
			url.Values{"account": {"chem"}, "amount": {"-100.00"}, "reason": {"test"}}, adminOnly},
		{"POST /admin/accounts/{account}", "POST", "/admin/accounts/chem", url.Values{"display_name": {"Stolen"}, "pi": {"mallory"}}, adminOnly},
		{"POST /admin/rates", "POST", "/admin/rates", url.Values{"spec": {"name: x\ncurrency: USD\nversions: []\n"}}, adminOnly},
		{"POST /admin/ingest", "POST", "/admin/ingest", url.Values{"hours": {"1"}}, adminOnly},
		{"GET /admin/ingest/live", "GET", "/admin/ingest/live", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 403, "tally-t-fin": 403, "tally-t-admin": 200}},
		{"GET /admin/budgets", "GET", "/admin/budgets", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 403, "tally-t-fin": 403, "tally-t-admin": 200}},
		{"POST /admin/budgets", "POST", "/admin/budgets", url.Values{"account": {"chem"}, "unit": {"money"}, "amount": {"1"},
			"starts": {"2026-01"}, "ends": {"2026-12"}}, adminOnly},
		{"POST /admin/budgets/{id}/delete", "POST", "/admin/budgets/1/delete", nil, adminOnly},
		{"GET /finance/budgets.csv", "GET", "/finance/budgets.csv", nil, map[string]int{"tally-t-alice": 403, "tally-t-coord": 403, "tally-t-fin": 200, "tally-t-admin": 200}},
	}
	covered := map[string]bool{}
	for p := range checkedElsewhere {
		covered[p] = true
	}
	for p := range apiCoveredRoutes() { // the API and its token pages: api_matrix_test.go
		covered[p] = true
	}
	for _, r := range rows {
		covered[r.pattern] = true
	}
	for _, p := range e.srv.patterns {
		if !covered[p] {
			t.Errorf("route %q is in no authorisation test: add it to this one or to TestAuthorisationMatrixWithForeignIDs", p)
		}
	}

	before := billingState(t, e)
	for _, user := range []string{"", "tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"} {
		b := newBrowser(t, e)
		if user != "" {
			b.login(user, pamUsers[user], "/")
		}
		for _, r := range rows {
			want, ok := r.status[user]
			if user == "" {
				// Pages send visitors to sign in (the home page is the
				// sign-in invitation); forms answer 401.
				want, ok = 303, true
				if r.method == "POST" {
					want = 401
				} else if r.path == "/" {
					want = 200
				}
			}
			if !ok {
				continue // an admin's successful change is tested with its page
			}
			var code int
			var body string
			if r.method == "GET" {
				resp, bd := b.get(r.path)
				code, body = resp.StatusCode, bd
			} else {
				resp, bd := b.post(r.path, r.form)
				code, body = resp.StatusCode, bd
			}
			if code != want {
				t.Errorf("%s %s as %q: %d, want %d", r.method, r.path, user, code, want)
			}
			if user == "" && r.method == "GET" && strings.Contains(body, "HYPERLINK") {
				t.Errorf("%s shows data to an anonymous visitor", r.path)
			}
		}
	}
	if after := billingState(t, e); after != before {
		t.Errorf("refused requests changed the database:\n before %s\n after  %s", before, after)
	}
}
