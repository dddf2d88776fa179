// Package testenv tells tests what real infrastructure this machine offers
// (the Slurm testbed, PAM users, Chromium, poppler's PDF tools), and skips or fails them when
// something is missing: under `make test` (TALLY_TEST_REQUIRE=1) a missing
// prerequisite is a failure, never a silent skip.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// PDFText is the text poppler's pdftotext reads from a PDF, one line per
// line of text, after poppler has also drawn every page (pdftoppm), which
// loads the embedded fonts' glyphs. Anything either tool says on stderr
// (a broken xref, a font it cannot read) fails the test.
func PDFText(t testing.TB, pdf []byte) string {
	t.Helper()
	for _, tool := range []string{"pdftotext", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, tool+" not installed (Debian: poppler-utils)")
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "doc.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		var stdout, stderr strings.Builder
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		}
		return stdout.String()
	}
	run("pdftoppm", "-r", "20", "-png", in, filepath.Join(dir, "page"))
	return run("pdftotext", "-enc", "UTF-8", in, "-")
}
