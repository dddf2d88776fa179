package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/web"
)

// tally keygen writes a key serve accepts, owner-only, and never replaces
// one: overwriting the key in use would sign everyone out.
func TestAbuse12Keygen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "session.key")
	if code, _, errOut := runCmd(t, "keygen", p); code != 0 || !strings.Contains(errOut, "TALLY_SESSION_KEY_FILE="+p) {
		t.Fatalf("keygen: %d %s", code, errOut)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if _, err := web.LoadSessionKeys(p); err != nil {
		t.Fatalf("the key keygen wrote: %v", err)
	}
	before, _ := os.ReadFile(p)
	if code, _, errOut := runCmd(t, "keygen", p); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("keygen over an existing key: %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("the existing key changed")
	}
	if code, _, _ := runCmd(t, "keygen"); code != 2 {
		t.Errorf("keygen without a file: %d, want 2", code)
	}
}

// serve refuses a session key it should not trust before it touches the
// database, in one line that does not quote the file.
func TestAbuse12ServeChecksTheSessionKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if err := web.WriteSessionKeyFile(good); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(good)
	os.WriteFile(open, b, 0o644)
	wrong := filepath.Join(dir, "wrong.key")
	os.WriteFile(wrong, []byte("hunter2"), 0o600)
	t.Setenv("TALLY_DATABASE_URL", "postgres://u:p@127.0.0.1:1/x?connect_timeout=2")
	for _, c := range []struct {
		setting string
		code    int
		want    string
	}{
		{open, 1, "chmod 600"},
		{good + "," + open, 1, "chmod 600"}, // an old key is checked as strictly
		{wrong, 1, "64 hexadecimal characters"},
		{filepath.Join(dir, "missing.key"), 1, "no such file"},
		{" , ", 2, "session-key-file"},
	} {
		t.Setenv("TALLY_SESSION_KEY_FILE", c.setting)
		code, _, errOut := runCmd(t, "serve", "--addr", "127.0.0.1:0")
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "hunter2") {
			t.Errorf("TALLY_SESSION_KEY_FILE=%q: %d %s", c.setting, code, errOut)
		}
		if strings.Contains(errOut, "database") {
			t.Errorf("TALLY_SESSION_KEY_FILE=%q: the database was tried before the key was checked: %s", c.setting, errOut)
		}
	}
}
