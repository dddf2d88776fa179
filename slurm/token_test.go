package slurm

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func writeKey(t *testing.T, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomKey(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestMinterRefusesUnsafeKeys(t *testing.T) {
	cases := []struct {
		name string
		key  []byte
		mode os.FileMode
		want string
	}{
		{"world readable", randomKey(t, 32), 0o644, "must have no access"},
		{"group writable", randomKey(t, 32), 0o620, "must have no access"},
		{"short", randomKey(t, 16), 0o600, "at least 32"},
		{"ok", randomKey(t, 32), 0o600, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMinter(MinterConfig{KeyFile: writeKey(t, tc.key, tc.mode)})
			if tc.want == "" && err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := NewMinter(MinterConfig{KeyFile: "/nonexistent/key"}); err == nil {
		t.Fatal("missing key accepted")
	}
}

// Item 10: a small RSA key is refused whether it comes as PKCS#1 or
// PKCS#8, and a key file anyone but its owner may read, write or run is
// refused with the file named and the fix spelled out.
func TestAbuse10RSAKeySizeOnEveryPath(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	big, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := func(k *rsa.PrivateKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	pkcs8 := func(k *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		want string // "" accepted
	}{
		{"PKCS#1 1024 bits", pkcs1(small), "RSA key of 1024 bits"},
		{"PKCS#8 1024 bits", pkcs8(small), "RSA key of 1024 bits"},
		{"PKCS#1 2048 bits", pkcs1(big), ""},
		{"PKCS#8 2048 bits", pkcs8(big), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMinter(MinterConfig{Alg: "RS256", KeyFile: writeKey(t, tc.pem, 0o600)})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Mint("alice", time.Now()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAbuse10KeyFileOwnerOnly(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false}, // group read: the case the README's 0600 already ruled out
		{0o610, false},
		{0o620, false},
		{0o604, false},
		{0o602, false},
		{0o601, false},
		{0o660, false},
		{0o644, false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			p := writeKey(t, randomKey(t, 32), tc.mode)
			_, err := NewMinter(MinterConfig{KeyFile: p})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("mode %04o accepted", tc.mode)
			}
			if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, "chmod 600") {
				t.Fatalf("error %q does not name the file and the fix", msg)
			}
		})
	}
	if _, err := NewMinter(MinterConfig{KeyFile: t.TempDir()}); err == nil {
		t.Fatal("a directory accepted as a key file")
	}
}

func TestHS256Claims(t *testing.T) {
	key := randomKey(t, 32)
	key[31] = '\n' // trailing newline is part of the key, as Slurm reads it
	m, err := NewMinter(MinterConfig{KeyFile: writeKey(t, key, 0o600), Lifetime: 10 * time.Minute, UserClaim: "username"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tok, err := m.Mint("alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expires.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("expires %v", tok.Expires)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return now })).ParseWithClaims(tok.Value, claims,
		func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		t.Fatal(err)
	}
	if claims["username"] != "alice" || claims["iat"].(float64) != float64(now.Unix()) || claims["exp"].(float64) != float64(now.Unix()+600) {
		t.Errorf("claims %v", claims)
	}
	if _, has := claims["sun"]; has {
		t.Error("sun set although another user claim was configured")
	}
}

func TestRS256AndJWKS(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	m, err := NewMinter(MinterConfig{Alg: "RS256", KeyFile: writeKey(t, pemBytes, 0o600)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint("bob", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"d"`)) || bytes.Contains(raw, []byte("PRIVATE")) {
		t.Fatal("JWKS contains private material")
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", raw, err)
	}
	j := set.Keys[0]
	for _, f := range []string{"kid", "kty", "n", "e", "alg", "use"} {
		if j[f] == "" {
			t.Errorf("jwks lacks %s", f)
		}
	}
	// Verify the token with the public key rebuilt from the JWKS alone.
	nb, _ := base64.RawURLEncoding.DecodeString(j["n"])
	eb, _ := base64.RawURLEncoding.DecodeString(j["e"])
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
	parsed, err := jwt.Parse(tok.Value, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != j["kid"] {
			return nil, fmt.Errorf("kid %v", tk.Header["kid"])
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify against JWKS: %v", err)
	}
	if _, err := m.JWKS(); err != nil {
		t.Fatal(err)
	}
	hs, _ := NewMinter(MinterConfig{KeyFile: writeKey(t, randomKey(t, 32), 0o600)})
	if _, err := hs.JWKS(); err == nil {
		t.Error("HS256 minter printed a JWKS")
	}
}

func TestTokenNeverPrints(t *testing.T) {
	tok := Token{Value: "eyJsecret.payload.sig", Expires: time.Now()}
	cred := Credential{User: "alice", Token: tok}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "tok", tok, "cred", cred)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", cred, cred, tok, tok), logs.String()} {
		if strings.Contains(s, "eyJsecret") {
			t.Errorf("token printed: %s", s)
		}
	}
}

func TestServiceTokenFile(t *testing.T) {
	key := randomKey(t, 32)
	m, _ := NewMinter(MinterConfig{KeyFile: writeKey(t, key, 0o600), Lifetime: time.Hour})
	t1, _ := m.Mint("tally", time.Now())
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte("SLURM_JWT="+t1.Value+"\n"), 0o600)
	svc := NewFileService("tally", p)
	c, err := svc.Credential(t.Context())
	if err != nil || c.Token.Value != t1.Value || c.User != "tally" {
		t.Fatalf("first read: %v", err)
	}
	t2, _ := m.Mint("tally", time.Now().Add(time.Minute))
	os.WriteFile(p, []byte(t2.Value), 0o600)
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(p, future, future)
	c, err = svc.Credential(t.Context())
	if err != nil || c.Token.Value != t2.Value {
		t.Fatalf("not re-read after change: %v", err)
	}
	old, _ := m.Mint("tally", time.Now().Add(-2*time.Hour))
	os.WriteFile(p, []byte(old.Value), 0o600)
	os.Chtimes(p, future.Add(time.Second), future.Add(time.Second))
	if _, err := svc.Credential(t.Context()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired file token: %v", err)
	}
}

func TestMintedServiceRenews(t *testing.T) {
	m, _ := NewMinter(MinterConfig{KeyFile: writeKey(t, randomKey(t, 32), 0o600), Lifetime: 3 * time.Minute})
	svc := NewMintedService("tally", m)
	now := time.Unix(1_800_000_000, 0)
	svc.now = func() time.Time { return now }
	a, _ := svc.Credential(t.Context())
	now = now.Add(30 * time.Second)
	b, _ := svc.Credential(t.Context())
	if a.Token.Value != b.Token.Value {
		t.Error("renewed too early")
	}
	now = now.Add(2 * time.Minute) // less than a third of the lifetime left
	c, _ := svc.Credential(t.Context())
	if c.Token.Value == a.Token.Value {
		t.Error("not renewed near expiry")
	}
}
