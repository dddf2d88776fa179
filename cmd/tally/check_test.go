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
	"github.com/tally-hpc/tally/slurm/synth"
)

// tally check finds a job lost from the database and a charge changed
// behind Tally's back, and passes when all is well.
func TestCheckReconciles(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	dir := t.TempDir()
	data := filepath.Join(dir, "jobs.txt")
	f, _ := os.Create(data)
	w := synth.NewSacctWriter(f)
	synth.Generate(synth.Config{Seed: 5, From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC),
		JobsPerDay: 100, Cluster: "demo", Partitions: []string{"cpu", "gpu", "bigmem", "short", "usage"}}, func(j slurm.Job) error { return w.Write(j) })
	w.Flush()
	f.Close()
	script := filepath.Join(dir, "sacct")
	os.WriteFile(script, []byte("#!/bin/sh\ncat "+data+"\n"), 0o755)
	t.Setenv("TALLY_SACCT", script)
	t.Setenv("TALLY_INGEST_SOURCE", "sacct")
	t.Setenv("TALLY_INGEST_WINDOW", "744h")

	for _, args := range [][]string{
		{"ingest", "--from", "2026-10-01", "--to", "2026-11-01", "--associations=false"},
		{"rates", "import", "../../billing/testdata/standard.yaml"},
		{"period", "ensure", "2026-10-01", "2026-11-01"},
		{"rate"},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := runCmd(t, "check", "--period", "2026-10")
	if code != 0 || !strings.Contains(out, "2026-10 reconciles") {
		t.Fatalf("clean check: %d\n%s%s", code, out, errOut)
	}

	ctx := context.Background()
	var row, jobID int64
	pool.QueryRow(ctx, `SELECT j.id, j.job_id FROM jobs j JOIN job_charges c ON c.job_row = j.id WHERE c.total_micros > 0 ORDER BY j.id LIMIT 1`).Scan(&row, &jobID)
	pool.Exec(ctx, `UPDATE job_charges SET total_micros = total_micros + 1 WHERE job_row = $1`, row)
	code, out, _ = runCmd(t, "check", "--period", "2026-10")
	if code != 1 || !strings.Contains(out, "recomputed") {
		t.Fatalf("tampered charge not found: %d\n%s", code, out)
	}
	pool.Exec(ctx, `DELETE FROM job_charges WHERE job_row = $1`, row)
	pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, row)
	code, out, _ = runCmd(t, "check", "--period", "2026-10")
	if code != 1 || !strings.Contains(out, "is in Slurm but not in Tally") {
		t.Fatalf("lost job not found: %d\n%s", code, out)
	}
}
