package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

func TestRatesAndEstimateCommands(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rates", "list"}, 0, "no rate cards yet"},
		{[]string{"rates", "import", "../../billing/testdata/standard.yaml"}, 0, "added     standard v2"},
		{[]string{"rates", "import", "../../billing/testdata/standard.yaml"}, 0, "unchanged standard v1"},
		{[]string{"rates", "list"}, 0, "2026-10-15T00:00:00Z"},
		{[]string{"rates", "show", "standard", "2"}, 0, `cpu: "0.03"`},
		{[]string{"rates", "import", "/nonexistent.yaml"}, 1, "no such file"},
		{[]string{"rate", "--changed"}, 0, "changed since the last run: rated every open job"},
		{[]string{"rate", "--changed"}, 0, "rated 0 jobs"},
		{[]string{"rate"}, 0, "rated 0 jobs"},
		{[]string{"estimate", "--partition", "cpu", "--cpus", "4", "--mem", "16G", "--time", "02:30:00", "--end", "2026-10-10"}, 0, "0.400000 USD"},
		{[]string{"estimate", "--partition", "cpu", "--time", "soon"}, 2, "Slurm time"},
		{[]string{"estimate", "--partition", "nowhere", "--time", "1:00:00", "--end", "2026-10-10"}, 1, `no prices for partition "nowhere"`},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.want) {
			t.Fatalf("%v: code %d (want %d)\n%s%s\nwant %q", s.args, code, s.code, out, errOut, s.want)
		}
	}
	code, out, _ := runCmd(t, "estimate", "--partition", "gpu", "--cpus", "8", "--mem", "64G", "--gpus", "a100:2",
		"--time", "03:00:00", "--qos", "standby", "--end", "2026-10-10", "--json")
	var doc struct {
		Total    string `json:"total"`
		Currency string `json:"currency"`
		Lines    []struct {
			Component, Amount string
		} `json:"lines"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Total != "8.220000" || doc.Currency != "USD" || len(doc.Lines) != 3 {
		t.Fatalf("estimate --json: %d %s", code, out)
	}
}

func TestPeriodRanges(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	for _, s := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"period", "--quarterly", "ensure", "2026-01-01", "2027-01-01"}, 0, "periods ready"},
		{[]string{"period", "list"}, 0, "2026-Q4"},
		{[]string{"period", "add", "FY2028", "2027-07-01", "2028-07-01"}, 0, "added"},
		{[]string{"period", "add", "overlap", "2026-11-01", "2026-12-01"}, 1, "overlaps"},
		{[]string{"period", "add", "FY2028", "2030-01-01", "2031-01-01"}, 1, "exists"},
		{[]string{"period", "add", "backwards", "2031-01-01", "2030-01-01"}, 1, "end after"},
	} {
		code, out, errOut := runCmd(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.want) {
			t.Errorf("%v: %d %s%s", s.args, code, out, errOut)
		}
	}
}

func TestExportCommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	runCmd(t, "period", "ensure", "2026-10-01", "2026-11-01")
	for what, header := range map[string]string{"accounts": "statement_number", "jobs": "het_job_id,name", "adjustments": "reason,author"} {
		code, out, errOut := runCmd(t, "export", "--what", what, "2026-10")
		if code != 0 || !strings.Contains(out, header) {
			t.Errorf("export %s: %d %s %s", what, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "export", "2031-01"); code != 1 || !strings.Contains(errOut, "no billing period") {
		t.Errorf("unknown period: %d %s", code, errOut)
	}
}
