package web

import (
	"fmt"
	"strings"
	"testing"
)

// Every route that shows data, for every role, with somebody else's ids:
// the answer is a refusal or an empty page, never their data.
func TestAuthorisationMatrixWithForeignIDs(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows, period := seedWithPeriod(t, e)
	chemJob := rows[103]

	type want struct {
		status int
		secret bool // whether chem's data may appear
	}
	routes := []struct {
		path string
		by   map[string]want
	}{
		{fmt.Sprintf("/jobs/%d", chemJob), map[string]want{"tally-t-alice": {404, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{fmt.Sprintf("/jobs/%d/receipt.pdf", chemJob), map[string]want{"tally-t-alice": {404, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		// The same receipt by cluster and Slurm's id answers the same.
		{"/jobs/testbed/103", map[string]want{"tally-t-alice": {404, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/jobs/testbed/103/receipt.pdf", map[string]want{"tally-t-alice": {404, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/jobs?account=chem", map[string]want{"tally-t-alice": {200, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/jobs.csv?account=chem", map[string]want{"tally-t-alice": {200, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/accounts/chem", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/periods/" + period, map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/periods/" + period + "/statement.pdf?account=chem", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {404, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/periods/" + period + "/accounts.csv", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/periods/" + period + "/jobs.csv", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/statements/" + period + "/tally-t-fin", map[string]want{"tally-t-alice": {404, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/admin/audit", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {403, false}, "tally-t-admin": {200, false}}},
		{"/admin/rates", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {403, false}, "tally-t-admin": {200, false}}},
		{"/admin/accounts", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {403, false}, "tally-t-admin": {200, true}}},
		{"/finance", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/finance/" + period + "/accounts.csv", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/finance/" + period + "/jobs.csv", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/periods/" + period + "/adjustments.csv", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/accounts", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/statements", map[string]want{"tally-t-alice": {200, false}, "tally-t-coord": {200, false}, "tally-t-fin": {200, true}, "tally-t-admin": {200, true}}},
		{"/admin/users", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {403, false}, "tally-t-admin": {200, false}}},
		{"/admin/ingest", map[string]want{"tally-t-alice": {403, false}, "tally-t-coord": {403, false}, "tally-t-fin": {403, false}, "tally-t-admin": {200, false}}},
	}
	// The chem job's name is the secret: it appears nowhere it should not.
	const secret = "HYPERLINK"
	for _, user := range []string{"", "tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"} {
		b := newBrowser(t, e)
		if user != "" {
			b.login(user, pamUsers[user], "/")
		}
		for _, rt := range routes {
			resp, body := b.get(rt.path)
			if user == "" {
				if resp.StatusCode != 303 || strings.Contains(body, secret) {
					t.Errorf("anonymous %s: %d", rt.path, resp.StatusCode)
				}
				continue
			}
			w := rt.by[user]
			if resp.StatusCode != w.status {
				t.Errorf("%s %s: %d, want %d", user, rt.path, resp.StatusCode, w.status)
			}
			if !w.secret && (strings.Contains(body, secret) || strings.Contains(body, "chem,") && strings.Contains(rt.path, ".csv")) {
				t.Errorf("%s %s shows chem's data", user, rt.path)
			}
		}
	}
}
