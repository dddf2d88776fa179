package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/testenv"
)

// submitAs runs a short job as user on the testbed and waits for it to end.
func submitAs(t *testing.T, tb testenv.Slurm, user, account string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runuser", "-u", user, "--", "sbatch", "-W", "--chdir=/tmp", "-p", "cpu",
		"-A", account, "-J", "tally-live-test", "-o", "/dev/null", "--wrap", "sleep 1")
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sbatch as %s: %v\n%s", user, err, out)
	}
}

// fixedCred is one credential, never renewed.
type fixedCred struct{ c Credential }

func (f fixedCred) Credential(context.Context) (Credential, error) { return f.c, nil }
func (f fixedCred) Invalidate()                                    {}

// Tokens Tally mints are accepted by the real slurmrestd; bad ones are
// refused, whichever way the release (22.05, 24.11) phrases the refusal.
func TestLiveTokensAgainstSlurmrestd(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	submitAs(t, tb, "alice", "physics")
	m, err := NewMinter(MinterConfig{KeyFile: tb.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()

	alice, _ := m.Mint("alice", now)
	// Whichever release the testbed runs (22.05 or 24.11), the version
	// Tally would pick.
	version, err := c.DiscoverVersion(ctx, fixedCred{Credential{User: "alice", Token: alice}})
	if err != nil {
		t.Fatalf("discovering the slurmdb version: %v", err)
	}
	// slurmctld hands the finished job to slurmdbd asynchronously: it can
	// reach the accounting database a few seconds after sbatch -W returns.
	var n int
	for wait := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		n, err = c.CheckAccess(ctx, Credential{User: "alice", Token: alice}, version, time.Now())
		if err != nil {
			t.Fatalf("alice's minted token refused: %v", err)
		}
		if n > 0 || time.Now().After(wait) {
			break
		}
	}
	if n < 1 {
		t.Fatalf("alice sees %d of her jobs, want at least the one just run", n)
	}

	expired, _ := m.Mint("alice", now.Add(-2*time.Hour))
	bob, _ := m.Mint("bob", now)
	wrongKey := writeKey(t, randomKey(t, 32), 0o600)
	other, _ := NewMinter(MinterConfig{KeyFile: wrongKey})
	forged, _ := other.Mint("alice", now)
	for name, cred := range map[string]Credential{
		"expired":         {User: "alice", Token: expired},
		"bob's token":     {User: "alice", Token: bob},
		"wrong key":       {User: "alice", Token: forged},
		"garbage":         {User: "alice", Token: Token{Value: "not-a-jwt"}},
		"no token at all": {User: "alice"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.CheckAccess(ctx, cred, version, now)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("want ErrAuth, got %v", err)
			}
		})
	}
}

// Both testbeds trust a JWKS beside the HS256 key: tokens Tally mints with
// RS256 are accepted, and the JWKS Tally prints for its key names the same
// key (kid and modulus) as the one slurmctld loaded.
func TestLiveRS256WithJWKS(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	keyFile := os.Getenv("SLURM_JWT_RS256_KEY")
	if keyFile == "" {
		testenv.Missing(t, "the testbed has no RS256 key and JWKS (SLURM_JWT_RS256_KEY): run make testbed again")
	}
	m, err := NewMinter(MinterConfig{Alg: "RS256", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := m.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(filepath.Dir(keyFile), "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	type set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	var a, b set
	if err := json.Unmarshal(ours, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(theirs, &b); err != nil {
		t.Fatal(err)
	}
	if len(a.Keys) != 1 || len(b.Keys) != 1 || a.Keys[0] != b.Keys[0] {
		t.Fatalf("tally jwks %+v, the testbed's %+v", a.Keys, b.Keys)
	}
	c, err := NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := m.Mint("alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred := Credential{User: "alice", Token: tok}
	version, err := c.DiscoverVersion(ctx, fixedCred{cred})
	if err != nil {
		t.Fatalf("an RS256 token refused: %v", err)
	}
	if _, err := c.CheckAccess(ctx, cred, version, time.Now()); err != nil {
		t.Fatalf("an RS256 token refused: %v", err)
	}
}
