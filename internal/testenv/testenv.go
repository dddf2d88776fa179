// Package testenv tells tests what real infrastructure this machine offers
// (the Slurm testbed, PAM users, Chromium), and skips or fails them when
// something is missing: under `make test` (TALLY_TEST_REQUIRE=1) a missing
// prerequisite is a failure, never a silent skip.
package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Missing reports that a prerequisite is absent.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("TALLY_TEST_REQUIRE") == "1" {
		t.Fatalf("%s (make test sets this up; TALLY_TEST_REQUIRE=1 turns the skip into a failure)", what)
	}
	t.Skip(what)
}

// Slurm is the live testbed's coordinates.
type Slurm struct {
	URL     string // slurmrestd
	KeyFile string // jwt_key (HS256)
	Conf    string // slurm.conf
}

// RequireSlurm returns the testbed started by scripts/test-slurm-setup.sh
// (SLURMRESTD_URL and SLURM_JWT_KEY from its env.sh).
func RequireSlurm(t testing.TB) Slurm {
	t.Helper()
	s := Slurm{URL: os.Getenv("SLURMRESTD_URL"), KeyFile: os.Getenv("SLURM_JWT_KEY"), Conf: os.Getenv("SLURM_CONF")}
	if s.URL == "" || s.KeyFile == "" {
		Missing(t, "no Slurm testbed: run make testbed (as root), then source .tally/slurm-22.05.env")
	}
	// One live test at a time across test packages (go test runs packages
	// in parallel): one stops slurmrestd to test the fallback, and others
	// would see it gone.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "tally-slurm-testbed.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	})
	return s
}
