package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// Item 13: tally estimate exits non-zero with the reason for input past
// the plausibility limits and for names the card or Slurm does not know.
func TestAbuse13EstimateCommandRefuses(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	if code, out, errOut := runCmd(t, "rates", "import", "../../billing/testdata/standard.yaml"); code != 0 {
		t.Fatalf("import: %d %s%s", code, out, errOut)
	}
	if _, err := pool.Exec(context.Background(),
		`INSERT INTO slurm_associations (cluster, account, username, is_default) VALUES ('c1', 'physics', 'alice', true)`); err != nil {
		t.Fatal(err)
	}
	job := []string{"estimate", "--partition", "gpu", "--cpus", "4", "--time", "1:00:00", "--end", "2026-10-10"}
	for _, tc := range []struct {
		name string
		args []string
		db   bool // TALLY_DATABASE_URL set
		code int
		want string
	}{
		{"priced", nil, true, 0, "USD"},
		{"cpus=MaxInt64", []string{"--cpus", "9223372036854775807"}, true, 1, "CPUs: at most 500000"},
		{"memory past 2^63 MiB", []string{"--mem", "8796093022208T"}, true, 2, "at most 16384T"},
		{"nodes=MaxInt64", []string{"--nodes", "9223372036854775807"}, true, 1, "nodes: at most"},
		{"time past five years", []string{"--time", "99999-00:00:00"}, true, 2, "at most 1825-00:00:00"},
		{"GPUs that wrap", []string{"--gpus", "a100:9223372036854775807,a100:1"}, true, 2, "at most 100000"},
		{"unknown GPU type", []string{"--gpus", "h100:2"}, true, 1, `GPU type "h100": rate card standard v1 prices a100`},
		{"unknown QOS", []string{"--qos", "premium"}, true, 1, `QOS "premium"`},
		{"unknown account", []string{"--account", "nosuch"}, true, 1, `account "nosuch" is unknown`},
		{"account Slurm knows", []string{"--account", "physics"}, true, 0, "USD"},
		{"rate file, account looked up", []string{"--rates", "../../billing/testdata/standard.yaml", "--account", "physics"}, true, 0, "USD"},
		{"rate file, no database, unknown account", []string{"--rates", "../../billing/testdata/standard.yaml", "--account", "physics"}, false, 1, "is unknown"},
		{"rate file, no database, account the card names", []string{"--rates", "../../billing/testdata/standard.yaml", "--account", "chem"}, false, 0, "USD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.db {
				t.Setenv("TALLY_DATABASE_URL", "")
			}
			code, out, errOut := runCmd(t, append(append([]string{}, job...), tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("code %d (want %d)\n%s%s\nwant %q", code, tc.code, out, errOut, tc.want)
			}
		})
	}
}
