// Package slurm knows Slurm's wire formats and commands: the JWTs its
// auth/jwt plugin accepts, slurmrestd's JSON across API versions, and the
// text sacct prints.
package slurm

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token is a Slurm JWT and when it stops working. Its String and LogValue
// hide the secret, so a token printed or logged by mistake leaks nothing.
type Token struct {
	Value   string
	Expires time.Time
}

func (t Token) String() string                { return "[slurm token redacted]" }
func (t Token) GoString() string              { return "slurm.Token{[redacted]}" }
func (t Token) LogValue() slog.Value          { return slog.StringValue("[slurm token redacted]") }
func (t Token) Format(f fmt.State, verb rune) { fmt.Fprint(f, t.String()) }

// MarshalJSON keeps the secret out of any JSON a token ends up in.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"[slurm token redacted]"`), nil }

// ExpiresWithin reports whether the token is gone or will be within d.
func (t Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	return t.Value == "" || !now.Add(d).Before(t.Expires)
}

// Credential is what slurmrestd needs on every request: the user name for
// X-SLURM-USER-NAME and the token for X-SLURM-USER-TOKEN.
type Credential struct {
	User  string
	Token Token
}

// LogValue logs the user only.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.User), slog.String("token", "[redacted]"))
}

// MinterConfig configures how Tally signs tokens for Slurm's auth/jwt.
type MinterConfig struct {
	Alg       string        // HS256 or RS256
	KeyFile   string        // jwt_key bytes (HS256) or a PEM private key (RS256)
	Lifetime  time.Duration // default 15 minutes
	UserClaim string        // default "sun", as Slurm's userclaimfield
}

// Minter signs short-lived Slurm tokens. Holding its key is root power over
// the cluster, so the key never leaves this value.
type Minter struct {
	method    jwt.SigningMethod
	key       any // []byte for HS256, *rsa.PrivateKey for RS256
	kid       string
	lifetime  time.Duration
	userClaim string
}

// MinHS256KeyLen is the shortest HS256 key accepted; Slurm's own
// documentation generates 32 random bytes or more.
const MinHS256KeyLen = 32

// NewMinter loads the key and checks that only its owner may read it.
func NewMinter(cfg MinterConfig) (*Minter, error) {
	m := &Minter{lifetime: cfg.Lifetime, userClaim: cfg.UserClaim}
	if m.lifetime <= 0 {
		m.lifetime = 15 * time.Minute
	}
	if m.userClaim == "" {
		m.userClaim = "sun"
	}
	b, err := readPrivateFile(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	switch cfg.Alg {
	case "", "HS256":
		if len(b) < MinHS256KeyLen {
			return nil, fmt.Errorf("JWT key %s is %d bytes; HS256 needs at least %d random bytes", cfg.KeyFile, len(b), MinHS256KeyLen)
		}
		m.method, m.key = jwt.SigningMethodHS256, b // raw bytes, not trimmed: as Slurm reads jwt_key
	case "RS256":
		key, err := parseRSAPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("JWT key %s: %w", cfg.KeyFile, err)
		}
		m.method, m.key = jwt.SigningMethodRS256, key
		m.kid = keyID(&key.PublicKey)
	default:
		return nil, fmt.Errorf("JWT algorithm %q: want HS256 or RS256", cfg.Alg)
	}
	return m, nil
}

// readPrivateFile refuses key files that anyone but their owner may touch
// at all: the key mints tokens for any user, so even group read is root
// over the cluster for that group. The mode is taken from the open file,
// so a file swapped between the check and the read is not read.
func readPrivateFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no JWT key file configured")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("JWT key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("JWT key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("JWT key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("JWT key %s has mode %04o: its group and others must have no access to it (chmod 600 %s)", path, perm, path)
	}
	// No key is near this size; the cap keeps a wrong path from filling memory.
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("JWT key %s: %w", path, err)
	}
	return b, nil
}

// MinRSAKeyBits is the smallest RS256 key accepted, whichever encoding
// holds it.
const MinRSAKeyBits = 2048

func parseRSAPrivateKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	var rk *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		rk = k
	} else {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not an RSA private key (PKCS#1 or PKCS#8)")
		}
		var ok bool
		if rk, ok = k.(*rsa.PrivateKey); !ok {
			return nil, errors.New("not an RSA key")
		}
	}
	// Checked once, after every encoding, so no format skips it.
	if bits := rk.N.BitLen(); bits < MinRSAKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits; use %d or more", bits, MinRSAKeyBits)
	}
	return rk, nil
}

// keyID names a public key by the hash of its DER form, stable across runs.
func keyID(pub *rsa.PublicKey) string {
	der := x509.MarshalPKCS1PublicKey(pub)
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Lifetime is how long minted tokens last.
func (m *Minter) Lifetime() time.Duration { return m.lifetime }

// Mint signs a token for user, valid from now for the configured lifetime.
func (m *Minter) Mint(user string, now time.Time) (Token, error) {
	if user == "" {
		return Token{}, errors.New("mint: empty user name")
	}
	exp := now.Add(m.lifetime).Truncate(time.Second)
	claims := jwt.MapClaims{
		"iat":       now.Unix(),
		"exp":       exp.Unix(),
		m.userClaim: user,
	}
	t := jwt.NewWithClaims(m.method, claims)
	if m.kid != "" {
		t.Header["kid"] = m.kid
	}
	s, err := t.SignedString(m.key)
	if err != nil {
		return Token{}, fmt.Errorf("mint: %w", err)
	}
	return Token{Value: s, Expires: exp}, nil
}

// JWKS returns the JSON Web Key Set that Slurm's `jwks=` option reads, for
// RS256 minters.
func (m *Minter) JWKS() ([]byte, error) {
	k, ok := m.key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("JWKS needs an RS256 key (TALLY_JWT_ALG=RS256)")
	}
	type jwk struct {
		Kid string `json:"kid"`
		Kty string `json:"kty"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{{
		Kid: m.kid, Kty: "RSA", Alg: "RS256", Use: "sig",
		N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}}}
	return json.MarshalIndent(set, "", "  ")
}
