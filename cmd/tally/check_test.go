package main

import (
	"context"
	"fmt"
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

// With two clusters, tally check compares each cluster's jobs with that
// cluster's own Slurm: the same job ids on both are different jobs, and a
// job lost from one cluster is reported on that cluster only.
func TestCheckReconcilesEachCluster(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	dir := t.TempDir()
	t.Setenv("TALLY_INGEST_SOURCE", "sacct")
	t.Setenv("TALLY_INGEST_WINDOW", "744h")
	var entries []string
	for _, cluster := range []string{"cpu", "gpu"} {
		// The same seed on both: the same job ids and submit times.
		data := filepath.Join(dir, cluster+".txt")
		f, _ := os.Create(data)
		w := synth.NewSacctWriter(f)
		synth.Generate(synth.Config{Seed: 5, From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC),
			JobsPerDay: 40, Cluster: cluster, Partitions: []string{"cpu", "gpu", "bigmem", "short", "usage"}}, func(j slurm.Job) error { return w.Write(j) })
		w.Flush()
		f.Close()
		script := filepath.Join(dir, "sacct-"+cluster)
		os.WriteFile(script, []byte("#!/bin/sh\ncat "+data+"\n"), 0o755)
		t.Setenv("TALLY_CLUSTER", cluster)
		t.Setenv("TALLY_SACCT", script)
		if code, out, errOut := runCmd(t, "ingest", "--from", "2026-10-01", "--to", "2026-11-01", "--associations=false"); code != 0 {
			t.Fatalf("ingest %s: %d\n%s%s", cluster, code, out, errOut)
		}
		entries = append(entries, "  - name: "+cluster+"\n    sacct: "+script+"\n    source: sacct\n")
	}
	config := filepath.Join(dir, "clusters.yaml")
	os.WriteFile(config, []byte("clusters:\n"+strings.Join(entries, "")), 0o600)
	t.Setenv("TALLY_CONFIG", config)
	for _, args := range [][]string{
		{"rates", "import", "../../billing/testdata/standard.yaml"},
		{"period", "ensure", "2026-10-01", "2026-11-01"},
		{"rate"},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := runCmd(t, "check", "--period", "2026-10")
	if code != 0 || !strings.Contains(out, "2026-10 reconciles") || !strings.Contains(out, "jobs on cpu: ") || !strings.Contains(out, "jobs on gpu: ") {
		t.Fatalf("clean check: %d\n%s%s", code, out, errOut)
	}

	ctx := context.Background()
	var row, jobID int64
	pool.QueryRow(ctx, `SELECT j.id, j.job_id FROM jobs j WHERE j.cluster = 'gpu' AND EXISTS (SELECT 1 FROM jobs c WHERE c.cluster = 'cpu' AND c.job_id = j.job_id)
		ORDER BY j.id LIMIT 1`).Scan(&row, &jobID)
	pool.Exec(ctx, `DELETE FROM job_charges WHERE job_row = $1`, row)
	pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, row)
	code, out, _ = runCmd(t, "check", "--period", "2026-10")
	lost := fmt.Sprintf("job %d (gpu, ", jobID)
	if code != 1 || !strings.Contains(out, lost) || strings.Contains(out, fmt.Sprintf("job %d (cpu, ", jobID)) {
		t.Fatalf("job %d lost from gpu only: %d\n%s", jobID, code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "jobs on cpu: ") && !strings.Contains(line, " 0 missing, 0 extra") ||
			strings.HasPrefix(line, "jobs on gpu: ") && !strings.Contains(line, " 1 missing, 0 extra") {
			t.Errorf("per-cluster line: %s", line)
		}
	}
}

// After a month is archived, tally check does not call its jobs missing
// from Tally, and says how many charges it could not recompute.
func TestCheckAfterArchiving(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	dir := t.TempDir()
	data := filepath.Join(dir, "jobs.txt")
	f, _ := os.Create(data)
	w := synth.NewSacctWriter(f)
	synth.Generate(synth.Config{Seed: 5, From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC),
		JobsPerDay: 60, Cluster: "demo", Partitions: []string{"cpu", "gpu", "bigmem", "short", "usage"}}, func(j slurm.Job) error { return w.Write(j) })
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
		{"period", "ensure", "2026-09-01", "2026-12-01"},
		{"rate"},
		{"-"}, // the jobs synth leaves running or waiting are forgotten, so October can go
		{"period", "--ack", "close", "2026-09"},
		{"period", "--ack", "close", "2026-10"},
		{"period", "--ack", "close", "2026-11"},
		{"archive", "--month", "2026-10", "--dir", filepath.Join(dir, "2026-10")},
	} {
		if args[0] == "-" {
			if _, err := pool.Exec(context.Background(), `DELETE FROM jobs WHERE end_time IS NULL`); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := runCmd(t, "check", "--period", "2026-10")
	if code != 0 || !strings.Contains(out, "0 in Tally, 0 missing, 0 extra, ") || !strings.Contains(out, " submitted in archived months (not compared)") ||
		!strings.Contains(out, "jobs submitted in archived months not recomputed") || !strings.Contains(out, "2026-10 reconciles") {
		t.Fatalf("check after archiving: %d\n%s%s", code, out, errOut)
	}
}
