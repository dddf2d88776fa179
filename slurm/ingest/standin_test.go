package ingest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/slurm/synth"
)

// The generator's sacct text can stand in for the sacct binary: a script
// that prints it is run by the real sacct source, with the ingester's own
// arguments, and everything lands.
func TestGeneratedSacctStandsInForSacct(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "jobs.txt")
	f, _ := os.Create(data)
	w := synth.NewSacctWriter(f)
	n := 0
	from, to := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 3, 0, 0, 0, 0, time.UTC)
	synth.Generate(synth.Config{Seed: 3, From: from, To: to, JobsPerDay: 300}, func(j slurm.Job) error { n++; return w.Write(j) })
	w.Flush()
	f.Close()
	script := filepath.Join(dir, "sacct")
	os.WriteFile(script, []byte("#!/bin/sh\n# stands in for sacct: prints the generated records whatever the arguments\ncat "+data+"\n"), 0o755)

	store := jobstore.New(pgtest.New(t))
	in, err := New(Config{Source: "sacct", Window: 72 * time.Hour}, store, nil, nil, &slurm.Sacct{Path: script},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := in.Run(context.Background(), from, to.Add(24*time.Hour), Options{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Rejected != 0 || sum.Counts.New < n-n/50 {
		t.Fatalf("generated %d records, ingested %+v", n, sum.Counts)
	}
}
