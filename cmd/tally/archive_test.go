package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// tally archive as an operator runs it: refused with its reasons while
// a period is open, a dry run through TALLY_ARCHIVE_DIR, the archive,
// the list.
func TestArchiveCommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	ctx := context.Background()
	if code, out, errOut := runCmd(t, "rates", "import", "../../billing/testdata/standard.yaml"); code != 0 {
		t.Fatalf("rates import: %d %s%s", code, out, errOut)
	}
	w, err := jobstore.New(pool).Begin(ctx, "sacct")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		submit := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 15 * time.Hour)
		end := submit.Add(20 * time.Hour) // the last ones end in November
		if err := w.Add(ctx, slurm.Job{Cluster: "hpc", JobID: int64(100 + i), Submit: submit, Start: submit, End: end, User: "alice",
			Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED", ElapsedSeconds: int64(end.Sub(submit) / time.Second),
			Requested: slurm.TRES{CPU: 2, MemMiB: 2048, Nodes: 1}, Allocated: slurm.TRES{CPU: 2, MemMiB: 2048, Nodes: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, jobstore.Run{WindowStart: time.Unix(0, 0), WindowEnd: time.Unix(1, 0), Source: "sacct", Trigger: "test", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "2026-10")
	for _, s := range []struct {
		env        string
		args       []string
		code       int
		want, also string
	}{
		{"", []string{"archive"}, 2, "--month is required", ""},
		{"", []string{"archive", "--month", "2026-13", "--dir", dir}, 2, "want a month such as 2026-01", ""},
		{"", []string{"archive", "--month", "2026-10"}, 2, "--dir is required", ""},
		{"", []string{"archive", "list", "extra"}, 2, "say list", ""},
		{"", []string{"period", "ensure", "2026-10-01", "2026-12-01"}, 0, "periods ready", ""},
		{"", []string{"rate"}, 0, "rated 50 jobs", ""},
		{"", []string{"period", "--ack", "close", "2026-10"}, 0, "2026-10 closed", ""},
		{"", []string{"archive", "--month", "2026-10", "--dir", dir}, 1, "2026-10 cannot be archived; nothing was written:\n  ", "1 charge of its jobs is in billing periods not closed yet (2026-11 open)"},
		{"", []string{"archive", "list"}, 0, "2026-10  attached  50    50       ", "not closed yet (2026-11 open)"},
		{"", []string{"period", "--ack", "close", "2026-11"}, 0, "2026-11 closed", ""},
		{dir, []string{"archive", "--month", "2026-10", "--dry-run"}, 0, "dry run: 2026-10 written to " + filepath.Join(dir, "manifest.json") + " and verified (50 jobs, 50 charges)", "verified job_charges_2026_10.copy.gz: 50 rows"},
		{"", []string{"archive", "--by", "ops", "--month", "2026-10", "--dir", dir}, 0, "archived 2026-10: 50 jobs, 50 charges in " + filepath.Join(dir, "manifest.json") + ", verified, detached and dropped", "detaching job_charges_2026_10 and jobs_2026_10"},
		{"", []string{"archive", "list"}, 0, "2026-10  archived  50    50       ", "by ops: " + filepath.Join(dir, "jobs_2026_10.copy.gz")},
		{"", []string{"archive", "--month", "2026-10", "--dir", dir}, 1, "it is already archived", ""},
		{"", []string{"period", "list"}, 0, "2026-10  2026-10-01  2026-11-01  closed  ", ""},
	} {
		if s.env != "" {
			t.Setenv("TALLY_ARCHIVE_DIR", s.env)
		} else {
			os.Unsetenv("TALLY_ARCHIVE_DIR")
		}
		code, out, errOut := runCmd(t, s.args...)
		if code != s.code || !strings.Contains(out+errOut, s.want) || !strings.Contains(out+errOut, s.also) {
			t.Fatalf("%v: code %d (want %d)\n%s%s\nwant %q and %q", s.args, code, s.code, out, errOut, s.want, s.also)
		}
	}
	for _, f := range []string{"manifest.json", "jobs_2026_10.copy.gz", "job_charges_2026_10.copy.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
