package main

import (
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

func TestBudgetCommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	for _, s := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"budget", "list"}, 0, "No budgets yet"},
		{[]string{"rates", "import", "../../billing/testdata/standard.yaml"}, 0, "added"},
		{[]string{"budget", "--by", "ops", "set", "physics", "1200.50", "2027-01", "2027-12"}, 0, "saved budget 1: physics money 1200.50 USD 2027-01..2027-12"},
		{[]string{"budget", "--unit", "core-hours", "--user", "alice", "--thresholds", "90", "set", "physics", "5000", "2027-01", "2027-06"}, 0, "alice in physics core-hours 5000.00 core-hours"},
		{[]string{"budget", "set", "physics", "10", "2027-06", "2027-07"}, 1, "overlapping"},
		{[]string{"budget", "set", "physics", "ten", "2027-06", "2027-07"}, 2, "not a number"},
		{[]string{"budget", "set", "physics", "10", "2027-06-15", "2027-07"}, 2, "first and last months"},
		{[]string{"budget", "--unit", "furlongs", "set", "physics", "10", "2028-01", "2028-02"}, 1, "unit"},
		{[]string{"budget", "list"}, 0, "1200.50 USD"},
		{[]string{"budget", "show", "1"}, 0, "thresholds [50 80 100]"},
		{[]string{"budget", "--id", "1", "set", "physics", "2000", "2027-01", "2027-12"}, 0, "2000.00 USD"},
		{[]string{"budget", "delete", "2"}, 0, "deleted budget 2"},
		{[]string{"budget", "show", "2"}, 1, "no budget 2"},
	} {
		code, out, errOut := runCmd(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.want) {
			t.Errorf("%v: code %d (want %d)\n%s%s\nwant %q", s.args, code, s.code, out, errOut, s.want)
		}
	}
	var detail string
	pool.QueryRow(t.Context(), `SELECT detail FROM admin_events WHERE actor = 'ops' AND action = 'budget_set'`).Scan(&detail)
	if !strings.Contains(detail, "physics money 1200.50 USD") {
		t.Errorf("audit detail %q", detail)
	}
	var changed string
	pool.QueryRow(t.Context(), `SELECT detail FROM admin_events WHERE action = 'budget_set' ORDER BY id DESC LIMIT 1`).Scan(&changed)
	if !strings.Contains(changed, "(was physics money 1200.50 USD") {
		t.Errorf("a change does not say what it was: %q", changed)
	}
}

func TestExportByteOrderMark(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	if code, out, errOut := runCmd(t, "period", "add", "P1", "2026-01-01", "2026-02-01"); code != 0 {
		t.Fatalf("%d %s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		bom  bool
	}{{[]string{"export", "--what", "adjustments", "P1"}, false}, {[]string{"export", "--bom", "--what", "adjustments", "P1"}, true}} {
		code, out, errOut := runCmd(t, c.args...)
		if code != 0 || strings.HasPrefix(out, "\ufeff") != c.bom || !strings.Contains(out, "period") {
			t.Errorf("%v: %d bom=%v\n%q%s", c.args, code, strings.HasPrefix(out, "\ufeff"), out, errOut)
		}
	}
}
