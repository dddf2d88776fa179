package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ServiceIdentity supplies the credential background ingest uses: a
// dedicated Slurm account with AdminLevel=Operator, whose token is either
// minted by Tally or read from a file that the site's own tooling renews.
type ServiceIdentity struct {
	user      string
	minter    *Minter
	tokenFile string
	now       func() time.Time

	mu      sync.Mutex
	cached  Token
	modTime time.Time
	size    int64
}

// NewMintedService mints tokens for user with m.
func NewMintedService(user string, m *Minter) *ServiceIdentity {
	return &ServiceIdentity{user: user, minter: m, now: time.Now}
}

// NewFileService reads the token from path (as written by `scontrol token`,
// with or without the SLURM_JWT= prefix), re-reading it when it changes.
func NewFileService(user, path string) *ServiceIdentity {
	return &ServiceIdentity{user: user, tokenFile: path, now: time.Now}
}

// User is the service account's Slurm user name.
func (s *ServiceIdentity) User() string { return s.user }

// Credential returns a token with at least a minute of life left, minting
// or re-reading as needed.
func (s *ServiceIdentity) Credential(ctx context.Context) (Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.minter != nil {
		if s.cached.ExpiresWithin(now, s.minter.Lifetime()/3) {
			t, err := s.minter.Mint(s.user, now)
			if err != nil {
				return Credential{}, err
			}
			s.cached = t
		}
		return Credential{User: s.user, Token: s.cached}, nil
	}
	if err := s.reload(); err != nil {
		return Credential{}, err
	}
	if !s.cached.Expires.IsZero() && !now.Before(s.cached.Expires) {
		return Credential{}, fmt.Errorf("service token in %s expired at %s: renew it (scontrol token username=%s lifespan=...)",
			s.tokenFile, s.cached.Expires.UTC().Format(time.RFC3339), s.user)
	}
	return Credential{User: s.user, Token: s.cached}, nil
}

// Invalidate drops a token slurmrestd refused, so the next call mints or
// re-reads a fresh one.
func (s *ServiceIdentity) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cached = Token{}
	s.modTime = time.Time{}
}

func (s *ServiceIdentity) reload() error {
	fi, err := os.Stat(s.tokenFile)
	if err != nil {
		return fmt.Errorf("service token: %w", err)
	}
	if s.cached.Value != "" && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return nil
	}
	b, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return fmt.Errorf("service token: %w", err)
	}
	v := string(bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("SLURM_JWT="))))
	if v == "" {
		return fmt.Errorf("service token file %s is empty", s.tokenFile)
	}
	t := Token{Value: v}
	// The file's token is signed by Slurm; Tally only reads its expiry.
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(v, claims); err != nil {
		return errors.New("service token file does not hold a JWT")
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		t.Expires = exp.Time
	}
	s.cached, s.modTime, s.size = t, fi.ModTime(), fi.Size()
	return nil
}
