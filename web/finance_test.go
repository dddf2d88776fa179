package web

import (
	"strings"
	"testing"
)

// A finance person starts on the finance overview, and their Statements
// are every account's, not their own (empty) share.
func TestFinanceHomeAndStatements(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)
	for _, c := range []struct {
		user       string
		home, stmt []string // what each page shows
		notStmt    []string // and does not
	}{
		{"tally-t-fin", []string{"<h1>Finance</h1>", "Accounts across the last closed periods"},
			[]string{"Statements of all accounts", `data-testid="all-statements"`, `href="/periods/` + period + `"`}, []string{"Your statements"}},
		{"tally-t-alice", []string{`href="/jobs"`}, []string{"Your statements", `href="/statements/` + period + `/tally-t-alice"`},
			[]string{"Statements of all accounts"}},
	} {
		b := newBrowser(t, e)
		b.login(c.user, pamUsers[c.user], "/")
		resp, home := b.get("/")
		if resp.StatusCode != 200 {
			t.Fatalf("%s home: %d", c.user, resp.StatusCode)
		}
		for _, want := range c.home {
			if !strings.Contains(home, want) {
				t.Errorf("%s home lacks %q", c.user, want)
			}
		}
		if c.user == "tally-t-alice" && strings.Contains(home, "<h1>Finance</h1>") {
			t.Error("a researcher's home is the finance page")
		}
		_, stmt := b.get("/statements")
		for _, want := range c.stmt {
			if !strings.Contains(stmt, want) {
				t.Errorf("%s statements lack %q", c.user, want)
			}
		}
		for _, not := range c.notStmt {
			if strings.Contains(stmt, not) {
				t.Errorf("%s statements show %q", c.user, not)
			}
		}
	}
}
