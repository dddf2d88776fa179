package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClustersFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cpu.key")
	os.WriteFile(key, make([]byte, 32), 0o600)
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, make([]byte, 32), 0o644)
	defaults := ClusterConfig{JWTAlg: "HS256", Source: "auto", ServiceUser: "tally", Sacctmgr: "sacctmgr",
		IngestInterval: 10 * time.Minute, IngestWindow: 24 * time.Hour, IngestOverlap: time.Hour, JWTLifetime: 15 * time.Minute}
	good := `clusters:
  - name: cpu
    slurmrestd_url: http://127.0.0.1:6820
    jwt_key_file: ` + key + `
  - name: gpu
    sacct: /usr/bin/sacct
    source: sacct
    ingest_interval: 5m
`
	list, problems := parseClusters(strings.NewReader(good), defaults)
	if len(problems) > 0 || len(list) != 2 {
		t.Fatalf("good file: %v", problems)
	}
	if list[0].IngestInterval != 10*time.Minute || list[1].IngestInterval != 5*time.Minute || list[1].ServiceUser != "tally" {
		t.Errorf("defaults not applied: %+v", list)
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"empty", ``, "no clusters"},
		{"not yaml", `clusters: [`, "not a clusters file"},
		{"misspelt key", "clusters:\n  - name: a\n    sacct: sacct\n    slurmrestd: http://x\n", "field slurmrestd not found"},
		{"no name", "clusters:\n  - sacct: sacct\n", "cluster 1: give it a name"},
		{"bad name", "clusters:\n  - name: 'a b'\n    sacct: sacct\n", "letters, digits"},
		{"twice", "clusters:\n  - name: a\n    sacct: sacct\n  - name: a\n    sacct: sacct\n", `cluster "a": listed twice`},
		{"bad url", "clusters:\n  - name: a\n    slurmrestd_url: ftp://x\n    jwt_key_file: " + key + "\n", "want http://host:port"},
		{"nothing to read", "clusters:\n  - name: a\n", "nothing to read records from"},
		{"no key", "clusters:\n  - name: a\n    slurmrestd_url: http://x:1\n", "needs jwt_key_file"},
		{"missing key", "clusters:\n  - name: a\n    slurmrestd_url: http://x:1\n    jwt_key_file: /nonexistent/key\n", "no such file"},
		{"open key", "clusters:\n  - name: a\n    slurmrestd_url: http://x:1\n    jwt_key_file: " + open + "\n", "chmod 600"},
		{"bad alg", "clusters:\n  - name: a\n    sacct: sacct\n    jwt_alg: none\n", "jwt_alg"},
		{"bad source", "clusters:\n  - name: a\n    sacct: sacct\n    source: magic\n", "source \"magic\""},
		{"rest without url", "clusters:\n  - name: a\n    sacct: sacct\n    source: rest\n", "needs slurmrestd_url"},
		{"negative interval", "clusters:\n  - name: a\n    sacct: sacct\n    ingest_interval: -5m\n", "must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseClusters(strings.NewReader(c.yaml), defaults)
			if !strings.Contains(strings.Join(problems, "\n"), c.want) {
				t.Errorf("problems %q, want one saying %q", problems, c.want)
			}
		})
	}
	// Every mistake on a line of its own, through the command.
	f := filepath.Join(dir, "clusters.yaml")
	os.WriteFile(f, []byte("clusters:\n  - name: a\n  - name: a\n    sacct: sacct\n    source: magic\n"), 0o644)
	code, out, errOut := runCmd(t, "config", "check", "--config", f)
	if code != 1 || strings.Count(errOut, "\n  cluster") < 3 {
		t.Errorf("config check of a bad file: %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(f, []byte(good), 0o644)
	code, out, errOut = runCmd(t, "config", "check", "--config", f)
	if code != 0 || !strings.Contains(out, "gpu: source sacct via sacct /usr/bin/sacct -M gpu, every 5m0s") || !strings.Contains(out, "ok: 2 cluster(s)") {
		t.Errorf("config check of a good file: %d\n%s%s", code, out, errOut)
	}
}
