package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// apiMatrixRow is one API request of the authorisation matrix with the
// page that shows the same data: the API must answer as that page does,
// role by role, with somebody else's ids.
type apiMatrixRow struct {
	pattern string // the route, as registered
	method  string
	path    string // with someone else's ids
	body    string
	page    string // the page showing the same data; "" for public routes
}

// apiMatrix is every API route, with chem's ids (tally-t-fin's account,
// which only finance and admins may see) where a route takes one.
func apiMatrix(chemJob int64, period string) []apiMatrixRow {
	estimate := `{"partition":"cpu","cpus":4,"mem":"4G","time":"1:00:00","account":"chem"}`
	return []apiMatrixRow{
		{"GET /api/v1/me", "GET", "/api/v1/me", "", "/me"},
		{"GET /api/v1/jobs", "GET", "/api/v1/jobs?account=chem", "", "/jobs?account=chem"},
		{"GET /api/v1/jobs", "GET", "/api/v1/jobs?user=tally-t-fin&sort=cost&dir=asc", "", "/jobs?user=tally-t-fin&sort=cost&dir=asc"},
		{"GET /api/v1/jobs/totals", "GET", "/api/v1/jobs/totals?account=chem", "", "/jobs?account=chem"},
		{"GET /api/v1/jobs/{id}", "GET", fmt.Sprintf("/api/v1/jobs/%d", chemJob), "", fmt.Sprintf("/jobs/%d", chemJob)},
		{"GET /api/v1/statements", "GET", "/api/v1/statements", "", "/statements"},
		{"GET /api/v1/statements/{period}/{user}", "GET", "/api/v1/statements/" + period + "/tally-t-fin", "", "/statements/" + period + "/tally-t-fin"},
		{"GET /api/v1/periods", "GET", "/api/v1/periods", "", "/periods"},
		{"GET /api/v1/periods/{name}", "GET", "/api/v1/periods/" + period, "", "/periods/" + period},
		{"GET /api/v1/periods/{name}", "GET", "/api/v1/periods/" + period + "?account=chem", "", "/periods/" + period + "?account=chem"},
		{"GET /api/v1/accounts", "GET", "/api/v1/accounts", "", "/accounts"},
		{"GET /api/v1/accounts/{account}", "GET", "/api/v1/accounts/chem", "", "/accounts/chem"},
		{"GET /api/v1/rates", "GET", "/api/v1/rates", "", "/admin/rates"},
		{"GET /api/v1/budgets", "GET", "/api/v1/budgets", "", "/"},
		{"GET /api/v1/budgets", "GET", "/api/v1/budgets?account=chem", "", "/"},
		{"POST /api/v1/estimate", "POST", "/api/v1/estimate", estimate, "/estimate?partition=cpu&cpus=4&mem=4G&time=1:00:00&account=chem"},
		{"GET /api/v1/openapi.json", "GET", "/api/v1/openapi.json", "", ""},
		{"/api/", "GET", "/api/v1/nowhere", "", ""},
	}
}

// apiCoveredRoutes are the routes this file's tests cover, for
// TestEveryRouteIsInTheMatrix: the API's through the matrix below, the
// token pages through TestAPITokenLifecycle and TestAPITokenFormRefusals.
func apiCoveredRoutes() map[string]string {
	out := map[string]string{
		"POST /me/tokens": "TestAPITokenLifecycle", "POST /me/tokens/{id}/revoke": "TestAPITokenLifecycle (another person's id: 404)",
		"GET /admin/tokens": "TestAPIMatrixAnswersAsThePages", "POST /admin/tokens/{id}/revoke": "TestAPIMatrixAnswersAsThePages",
	}
	for _, r := range apiMatrix(0, "") {
		out[r.pattern] = "TestAPIMatrixAnswersAsThePages"
	}
	return out
}

// Every API route, for every role and anonymously, with somebody else's
// ids: the API answers as the page with the same data does (401 where the
// page sends a visitor to sign in), and shows chem's data exactly where
// the page does. Authorisation is the pages' own (scope, statementAccounts,
// periodScope, userStatementAccounts, holdsAny); this holds them to it.
func TestAPIMatrixAnswersAsThePages(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows, period := seedWithPeriod(t, e)
	matrix := apiMatrix(rows[103], period)
	// chem has a budget, which only finance and admins may see.
	if _, err := e.srv.pool.Exec(t.Context(), `INSERT INTO budgets (account, unit, amount, currency, starts, ends, updated_by)
		SELECT 'chem', 'money', 1000000000, 'USD', m, m + interval '1 month', 'test'
		FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m) x`); err != nil {
		t.Fatal(err)
	}

	// Every API route registered is in the matrix.
	inMatrix := map[string]bool{}
	for _, r := range matrix {
		inMatrix[r.pattern] = true
	}
	for _, p := range e.srv.patterns {
		if isAPIPath(strings.TrimPrefix(p, strings.SplitN(p, " ", 2)[0]+" ")) && !inMatrix[p] {
			t.Errorf("API route %q is not in the API authorisation matrix (apiMatrix)", p)
		}
	}

	const secret = "HYPERLINK" // the chem job's name
	users := []string{"tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"}
	tokens := map[string]string{}
	for _, u := range users {
		b := newBrowser(t, e)
		b.login(u, pamUsers[u], "/")
		tokens[u], _ = makeToken(t, b, "matrix")
	}
	before := billingState(t, e)
	for _, user := range append([]string{""}, users...) {
		b := newBrowser(t, e)
		if user != "" {
			b.login(user, pamUsers[user], "/")
		}
		for _, r := range matrix {
			resp, body := apiCall(t, e, r.method, r.path, tokens[user], r.body, nil)
			if r.page == "" {
				if want := map[string]int{"/api/": 404}[r.pattern]; want == 0 && resp.StatusCode != 200 || want != 0 && resp.StatusCode != want {
					t.Errorf("%s as %q: %d", r.path, user, resp.StatusCode)
				}
				continue
			}
			pageResp, pageBody := b.get(r.page)
			want := pageResp.StatusCode
			if user == "" {
				want = http.StatusUnauthorized // the page sends them to sign in
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s as %q: %d, but the page %s answers %d\n%s", r.method, r.path, user, resp.StatusCode, r.page, pageResp.StatusCode, body)
				continue
			}
			if resp.StatusCode != 200 {
				errorCode(t, resp, body)
			}
			pageShows := strings.Contains(pageBody, secret)
			if strings.Contains(body, secret) && !pageShows {
				t.Errorf("%s as %q shows chem's job, which the page %s does not", r.path, user, r.page)
			}
			// Only finance and admins may see anything of chem's.
			if (user == "tally-t-alice" || user == "tally-t-coord") && strings.Contains(body, `"account": "chem"`) {
				t.Errorf("%s as %q shows chem's figures", r.path, user)
			}
		}
	}
	if after := billingState(t, e); after != before {
		t.Errorf("API requests changed the database:\n before %s\n after  %s", before, after)
	}

	// The admin token pages: admins only.
	for _, user := range users {
		b := newBrowser(t, e)
		b.login(user, pamUsers[user], "/")
		want := map[bool]int{true: 200, false: 403}[user == "tally-t-admin"]
		if resp, _ := b.get("/admin/tokens"); resp.StatusCode != want {
			t.Errorf("/admin/tokens as %s: %d, want %d", user, resp.StatusCode, want)
		}
		if user != "tally-t-admin" {
			var id int64
			e.srv.pool.QueryRow(t.Context(), `SELECT id FROM api_tokens WHERE slurm_user = 'tally-t-admin'`).Scan(&id)
			if resp, _ := b.post(fmt.Sprintf("/admin/tokens/%d/revoke", id), url.Values{}); resp.StatusCode != 403 {
				t.Errorf("admin revoke as %s: %d", user, resp.StatusCode)
			}
		}
	}
	if resp, _ := apiGet(t, e, "/api/v1/me", tokens["tally-t-admin"]); resp.StatusCode != 200 {
		t.Errorf("the admin's token after others tried to revoke it: %d", resp.StatusCode)
	}
}
