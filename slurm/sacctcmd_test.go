package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Item 11: sacct and sacctmgr run with a minimal environment of their
// own, not Tally's: stand-ins first in PATH record what they were given.
func TestAbuse11SlurmCommandsGetAMinimalEnvironment(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "env")
	// Each stand-in records its environment, one block per run, and
	// answers as its command does when there is nothing to report.
	script := "#!/bin/sh\nenv >>" + dump + "\necho --- >>" + dump + "\n"
	for _, name := range []string{"sacct", "sacctmgr"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("TALLY_DATABASE_URL", "postgres://tally:hunter2@db.example/tally")
	t.Setenv("TALLY_SESSION_KEY", "not for children")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "nor this")
	t.Setenv("LD_PRELOAD", "/tmp/evil.so")
	t.Setenv("SLURM_CONF", "/etc/slurm-test/slurm.conf")
	t.Setenv("SLURM_TIME_FORMAT", "relative") // would break sacctTime
	t.Setenv("SLURM_JWT", "operator-token")
	t.Setenv("TZ", "Europe/Berlin")
	t.Setenv("LC_ALL", "de_DE.UTF-8")

	ctx := context.Background()
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	noJob := func(Job) error { t.Error("a job from an empty answer"); return nil }
	noReject := func(r Reject) error { t.Errorf("reject %+v", r); return nil }
	for _, tc := range []struct {
		name string
		run  func() error
		want map[string]string // variables the child must see, exactly
	}{
		{"sacct", func() error { return (&Sacct{}).Jobs(ctx, from, from.Add(time.Hour), "", noJob, noReject) },
			map[string]string{"SLURM_JWT": "operator-token"}},
		{"sacct with the service token", func() error {
			s := &Sacct{Token: func(context.Context) (Credential, error) {
				return Credential{User: "tally", Token: Token{Value: "service-token"}}, nil
			}}
			return s.Jobs(ctx, from, from.Add(time.Hour), "", noJob, noReject)
		}, map[string]string{"SLURM_JWT": "service-token"}},
		{"sacctmgr", func() error { _, _, err := SacctmgrAssociations(ctx, "", ""); return err },
			map[string]string{"SLURM_JWT": "operator-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(dump)
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(dump)
			if err != nil {
				t.Fatal(err)
			}
			runs := strings.Split(strings.TrimSuffix(string(b), "---\n"), "---\n")
			for _, block := range runs {
				seen := map[string][]string{}
				for _, kv := range strings.Split(strings.TrimSpace(block), "\n") {
					k, v, _ := strings.Cut(kv, "=")
					seen[k] = append(seen[k], v)
				}
				want := map[string]string{"TZ": "UTC", "LC_ALL": "C", "LANG": "C", "SLURM_TIME_FORMAT": "standard",
					"SLURM_CONF": "/etc/slurm-test/slurm.conf", "PATH": os.Getenv("PATH")}
				for k, v := range tc.want {
					want[k] = v
				}
				for k, v := range want {
					if len(seen[k]) != 1 || seen[k][0] != v {
						t.Errorf("%s=%q in the child, want %q", k, seen[k], v)
					}
				}
				for k := range seen {
					// The shell itself sets PWD, SHLVL and _; the operator's
					// own SLURM_* settings (a testbed's, here) pass as they are.
					operators := strings.HasPrefix(k, "SLURM_") && len(seen[k]) == 1 && os.Getenv(k) == seen[k][0]
					if _, ok := want[k]; !ok && !operators && k != "PWD" && k != "SHLVL" && k != "_" && k != "OLDPWD" {
						t.Errorf("the child sees %s", k)
					}
				}
			}
			if tc.name == "sacctmgr" && len(runs) != 3 {
				t.Errorf("%d sacctmgr runs recorded, want 3", len(runs))
			}
		})
	}
}
