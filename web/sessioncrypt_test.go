package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/slurm"
)

// oneUserAuthn knows one person, so these tests need no PAM set-up and run
// wherever PostgreSQL does.
type oneUserAuthn struct{ user, password string }

func (a oneUserAuthn) Authenticate(ctx context.Context, user, password string) error {
	if user != a.user || password != a.password {
		return errors.New("not accepted")
	}
	return nil
}

const (
	abuse12User     = "zq-abuse12-admin" // distinctive, so finding it in a row means something
	abuse12Password = "zq-abuse12-pw"
)

func sessionKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "session.key")
	if err := WriteSessionKeyFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadKeys(t *testing.T, paths ...string) *SessionKeys {
	t.Helper()
	k, err := LoadSessionKeys(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// abuse12Server signs abuse12User in as an admin holding a Slurm token,
// with sessions sealed by keys; a non-nil pool makes it a replica of
// another server on the same database.
func abuse12Server(t *testing.T, jwtKey string, keys *SessionKeys, pool *pgxpool.Pool) *testEnv {
	t.Helper()
	minter, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: jwtKey})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(c *Config, d *Deps) {
		c.Auth = AuthConfig{AdminUsers: []string{abuse12User}, MaxFailuresPerUser: 5, MaxFailuresPerAddress: 50, FailureWindow: 15 * time.Minute}
		d.Authn = oneUserAuthn{abuse12User, abuse12Password}
		d.Minter = minter
		d.SessionKeys = keys
		if pool != nil {
			d.Pool = pool
		}
	})
}

// getWithCookie asks e for path as whoever holds the session cookie.
func getWithCookie(t *testing.T, e *testEnv, cookie, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func wantSignedOut(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("%s: %d %q, want a redirect to sign in", what, resp.StatusCode, resp.Header.Get("Location"))
	}
}

type sessionRow struct {
	token string
	data  []byte
}

func sessionRows(t *testing.T, pool *pgxpool.Pool) []sessionRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT token, data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sessionRow
	for rows.Next() {
		var r sessionRow
		if err := rows.Scan(&r.token, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Someone who can read the sessions table (a backup, a database replica, a
// reporting role) finds neither a Slurm token nor whose session it is; the
// session still works on a server restarted with the same key file, and a
// server with another key treats it as signed out, not as an error.
func TestAbuse12SessionTokensEncryptedAtRest(t *testing.T) {
	jwtKey, keyFile := hs256Key(t), sessionKeyFile(t)
	e := abuse12Server(t, jwtKey, loadKeys(t, keyFile), nil)
	b := newBrowser(t, e)
	if resp, _ := b.login(abuse12User, abuse12Password, "/me"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/admin/audit"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/admin/audit after sign-in: %d", resp.StatusCode)
	}
	cookie := b.cookie()
	rows := sessionRows(t, e.srv.pool)
	if len(rows) == 0 {
		t.Fatal("no session rows")
	}
	held := false
	for _, r := range rows {
		for what, secret := range map[string][]byte{"the user name": []byte(abuse12User), "a session key name": []byte(keyToken),
			"the role": []byte(RoleAdmin)} {
			if bytes.Contains(r.data, secret) {
				t.Errorf("a session row holds %s in the clear", what)
			}
		}
		if jwtPattern.Match(r.data) || bytes.Contains(r.data, []byte("eyJ")) {
			t.Error("a session row holds something JWT-shaped in the clear")
		}
		if r.data[0] != sessionFormatV1 {
			t.Errorf("row format byte %d, want %d", r.data[0], sessionFormatV1)
		}
		// The control: sealed, the row did hold the token.
		plain, err := e.srv.store.keys.open(r.token, r.data)
		if err != nil {
			t.Fatalf("the server's own keys do not open its row: %v", err)
		}
		held = held || jwtPattern.Match(plain)
	}
	if !held {
		t.Fatal("no Slurm token in the sealed session: the check above proved nothing")
	}

	// Restarted, or another replica, reading the same key file.
	restarted := abuse12Server(t, jwtKey, loadKeys(t, keyFile), e.srv.pool)
	if resp := getWithCookie(t, restarted, cookie, "/admin/audit"); resp.StatusCode != http.StatusOK {
		t.Errorf("the same key file after a restart: %d, want the session to carry on", resp.StatusCode)
	}

	// Another key: signed out, never a 500, and the log says why without
	// the cookie.
	stranger := abuse12Server(t, jwtKey, loadKeys(t, sessionKeyFile(t)), e.srv.pool)
	wantSignedOut(t, getWithCookie(t, stranger, cookie, "/admin/audit"), "another key")
	logs := stranger.logs.String()
	if !strings.Contains(logs, "session row unreadable") {
		t.Errorf("no warning about the unreadable row:\n%s", logs)
	}
	if strings.Contains(logs, cookie) {
		t.Error("the session token (the cookie) reached the log")
	}
	// The person is still signed in where the key is right.
	if resp := getWithCookie(t, e, cookie, "/me"); resp.StatusCode != http.StatusOK {
		t.Errorf("the original server after the stranger's refusal: %d", resp.StatusCode)
	}
}

// legacyRow is a session as the code before encryption stored it: scs's
// gob blob, as is.
func legacyRow(t *testing.T) []byte {
	t.Helper()
	roles, _ := json.Marshal([]string{RoleResearcher, RoleAdmin})
	b, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour), map[string]any{
		keyUser: abuse12User, keySlurmUser: abuse12User, keyRoles: roles, keyAccounts: []byte("[]"),
		keyToken: "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJ4In0.c2lnbmF0dXJl", keyTokenExp: time.Now().Add(time.Hour).Unix(),
		keySignedInAt: time.Now().Unix(), keyRolesAt: time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A row written before encryption (or planted by someone who can write the
// table but has no key) opens nothing: sign in again.
func TestAbuse12PlaintextRowIsSignedOut(t *testing.T) {
	e := newTestServer(t, nil)
	ctx := context.Background()
	const legacy, sealed = "abuse12-legacy-token", "abuse12-sealed-token"
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, now() + interval '1 hour')`,
		sessionRowKey(legacy), legacyRow(t)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/me", "/admin/audit"} {
		wantSignedOut(t, getWithCookie(t, e, legacy, path), "plaintext row on "+path)
	}
	if !strings.Contains(e.logs.String(), "not a sealed session row") {
		t.Errorf("no warning naming the old format:\n%s", e.logs.String())
	}
	// The control: the same blob sealed by the store is a session.
	if err := e.srv.store.CommitCtx(ctx, sealed, legacyRow(t), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if resp := getWithCookie(t, e, sealed, "/admin/audit"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the same session, sealed: %d (the plaintext check proved nothing)", resp.StatusCode)
	}
}

// Someone who can write the table but has no key can neither graft an
// admin's sealed row onto their own session id nor alter one.
func TestAbuse12SealedRowBoundToItsSession(t *testing.T) {
	e := newTestServer(t, nil)
	ctx := context.Background()
	const admin, thief, altered = "abuse12-admin-token", "abuse12-thief-token", "abuse12-altered-token"
	for _, token := range []string{admin, altered} {
		if err := e.srv.store.CommitCtx(ctx, token, legacyRow(t), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.srv.pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) SELECT $2, data, expiry FROM sessions WHERE token = $1`,
		sessionRowKey(admin), sessionRowKey(thief)); err != nil {
		t.Fatal(err)
	}
	var row []byte
	if err := e.srv.pool.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1`, sessionRowKey(altered)).Scan(&row); err != nil {
		t.Fatal(err)
	}
	row[len(row)/2] ^= 1
	if _, err := e.srv.pool.Exec(ctx, `UPDATE sessions SET data = $2 WHERE token = $1`, sessionRowKey(altered), row); err != nil {
		t.Fatal(err)
	}
	wantSignedOut(t, getWithCookie(t, e, thief, "/admin/audit"), "an admin's row under another session id")
	wantSignedOut(t, getWithCookie(t, e, altered, "/admin/audit"), "an altered row")
	if resp := getWithCookie(t, e, admin, "/admin/audit"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin's own session: %d", resp.StatusCode)
	}
}

// Rotation: rows sealed with the old key open while it is listed, and are
// sealed again with the new one as they are used.
func TestAbuse12KeyRotation(t *testing.T) {
	oldFile, newFile := sessionKeyFile(t), sessionKeyFile(t)
	old, rotating, fresh := loadKeys(t, oldFile), loadKeys(t, newFile, oldFile), loadKeys(t, newFile)
	const token = "abuse12-rotation-token"
	plain := []byte("a session")
	row, err := old.seal(token, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotating.open(token, row); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the old key, listed second, does not open its row: %v", err)
	}
	if _, err := fresh.open(token, row); !errors.Is(err, errSessionKey) {
		t.Fatalf("once the old key is dropped its rows should not open: %v", err)
	}
	resealed, err := rotating.seal(token, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.open(token, resealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("rotating keys seal with the first: %v", err)
	}
	if again, _ := rotating.seal(token, plain); bytes.Equal(again, resealed) {
		t.Fatal("two seals of the same session are identical: the nonce is not fresh")
	}
}

// The key file: hex, owner-only, never quoted in an error, never overwritten.
func TestAbuse12SessionKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := sessionKeyFile(t)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("written with mode %04o, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if len(b) != 65 || b[64] != '\n' {
		t.Errorf("key file %d bytes, want 64 hex characters and a newline", len(b))
	}
	if _, err := ReadSessionKeyFile(p); err != nil {
		t.Fatalf("the key keygen writes: %v", err)
	}
	if err := WriteSessionKeyFile(p); err == nil {
		t.Error("an existing key file was overwritten")
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, b) {
		t.Error("the existing key changed")
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		os.Chmod(p, mode)
		if _, err := ReadSessionKeyFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want a refusal naming chmod 600", mode, err)
		}
	}
	os.Chmod(p, 0o400)
	if _, err := ReadSessionKeyFile(p); err != nil {
		t.Errorf("mode 0400: %v", err)
	}

	secret := "hunter2-not-a-key-" + strings.Repeat("z", 46)
	for name, content := range map[string]string{
		"raw bytes":  strings.Repeat("\x07", 32),
		"short hex":  strings.Repeat("ab", 16),
		"not hex":    secret,
		"empty":      "",
		"long":       strings.Repeat("ab", 5000),
		"hex + junk": strings.Repeat("ab", 32) + " x",
	} {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(f, []byte(content), 0o600)
		_, err := ReadSessionKeyFile(f)
		if err == nil || !strings.Contains(err.Error(), "64 hexadecimal characters") {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the file", name)
		}
	}
	if _, err := ReadSessionKeyFile(dir); err == nil {
		t.Error("a directory was read as a key")
	}
	if _, err := LoadSessionKeys(p, filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing old key was ignored")
	}
	if printed := fmt.Sprintf("%v %+v %#v", loadKeys(t, p), loadKeys(t, p), loadKeys(t, p)); strings.Count(printed, "redacted") != 3 {
		t.Errorf("keys print as %s", printed)
	}
}
