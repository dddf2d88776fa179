package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &cmdEnv{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestHelpEverywhere(t *testing.T) {
	code, out, _ := runCmd(t, "--help")
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Fatalf("tally --help: code %d\n%s", code, out)
	}
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, c.name, "--help")
			if code != 0 || !strings.Contains(out, "Usage: tally "+c.name) {
				t.Fatalf("code %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}
}

func TestServeHelpListsEveryVariable(t *testing.T) {
	_, out, _ := runCmd(t, "serve", "--help")
	var c Config
	for _, o := range c.options() {
		if !strings.Contains(out, o.env) {
			t.Errorf("serve --help does not mention %s", o.env)
		}
	}
}

func TestREADMEConfigTableIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	begin, end := strings.Index(s, "<!-- config:begin -->\n"), strings.Index(s, "<!-- config:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README has no config block")
	}
	got := s[begin+len("<!-- config:begin -->\n") : end]
	var want bytes.Buffer
	writeConfigTable(&want)
	if got != want.String() {
		t.Errorf("README configuration table is stale: run `make generate`\n--- README\n%s\n--- code\n%s", got, want.String())
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "serve", "--no-such-flag"); code != 2 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("unknown flag: %d %q", code, errOut)
	}
}

// A bad or unreachable database is one clear line and exit code 1, and
// never shows the password.
func TestBadDatabaseURL(t *testing.T) {
	cases := []struct {
		name, url, want string
	}{
		{"unparseable", "postgres://u:hunter2@127.0.0.1:port/x", "invalid TALLY_DATABASE_URL"},
		{"unreachable", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2", "cannot reach the database at 127.0.0.1:1/x"},
		{"missing", "", "no database configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TALLY_DATABASE_URL", tc.url)
			code, _, errOut := runCmd(t, "serve", "--addr", "127.0.0.1:0")
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("want one line, got:\n%s", errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("got %q, want it to mention %q", errOut, tc.want)
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("password leaked: %q", errOut)
			}
		})
	}
}

func TestInvalidEnvironmentValue(t *testing.T) {
	t.Setenv("TALLY_SESSION_IDLE_TIMEOUT", "soon")
	code, _, errOut := runCmd(t, "serve")
	if code != 2 || !strings.Contains(errOut, "TALLY_SESSION_IDLE_TIMEOUT") {
		t.Errorf("code %d: %q", code, errOut)
	}
}

func TestMigrateCommand(t *testing.T) {
	pool := pgtest.NewEmpty(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "status"}, "pending"},
		{[]string{"migrate", "up"}, "applied 00001"},
		{[]string{"migrate", "up"}, "schema is current"},
		{[]string{"migrate", "status"}, "applied 20"},
		{[]string{"migrate", "down", "0"}, "reverted 00001"},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%v: code %d\n%s%s", s.args, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "migrate", "sideways"); code != 2 || !strings.Contains(errOut, "sideways") {
		t.Errorf("bad action: %d %q", code, errOut)
	}
}

func TestJWKSCommand(t *testing.T) {
	dir := t.TempDir()
	key := dir + "/rs.pem"
	if out, err := exec.Command("openssl", "genrsa", "-out", key, "2048").CombinedOutput(); err != nil {
		t.Skipf("openssl: %v %s", err, out)
	}
	os.Chmod(key, 0o600)
	t.Setenv("TALLY_JWT_KEY_FILE", key)
	t.Setenv("TALLY_JWT_ALG", "RS256")
	code, out, errOut := runCmd(t, "jwks")
	if code != 0 || !strings.Contains(out, `"kty": "RSA"`) || !strings.Contains(out, `"alg": "RS256"`) || strings.Contains(out, "PRIVATE") {
		t.Fatalf("jwks: %d %s %s", code, out, errOut)
	}
	t.Setenv("TALLY_JWT_ALG", "HS256")
	if code, _, errOut := runCmd(t, "jwks"); code != 2 || !strings.Contains(errOut, "RS256") {
		t.Fatalf("jwks with HS256: %d %s", code, errOut)
	}
	os.Chmod(key, 0o644)
	t.Setenv("TALLY_JWT_ALG", "RS256")
	if code, _, errOut := runCmd(t, "jwks"); code != 1 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("world-readable key: %d %s", code, errOut)
	}
}
