package ingest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/slurm/synth"
)

// sacctText is what sacct prints for a small generated workload, one
// line per job and step, in Tally's format.
func sacctText(t *testing.T, from, to time.Time) (text []string, jobs int) {
	var b strings.Builder
	w := synth.NewSacctWriter(&b)
	synth.Generate(synth.Config{Seed: 11, From: from, To: to, JobsPerDay: 40}, func(j slurm.Job) error { jobs++; return w.Write(j) })
	w.Flush()
	// Every line keeps its newline, so lines can be spliced in between.
	text = strings.SplitAfter(b.String(), "\n")
	return text[:len(text)-1], jobs
}

// sacctStandIn writes a shell script that behaves as sacct does in the
// case at hand: it prints out (the format Tally asks for), writes
// stderr as sacct's errors look, and exits with code (-9: is killed).
func sacctStandIn(t *testing.T, out, stderr string, code int) string {
	dir := t.TempDir()
	data := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(data, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ncat " + data + "\n"
	if stderr != "" {
		script += "echo '" + stderr + "' >&2\n"
	}
	switch {
	case code == -9: // killed, as by the OOM killer or an admin
		script += "kill -9 $$\n"
	case code != 0:
		script += "exit " + strconv.Itoa(code) + "\n"
	}
	path := filepath.Join(dir, "sacct")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func sacctIngester(t *testing.T, path string) (*Ingester, *jobstore.Store) {
	store := jobstore.New(pgtest.New(t))
	in, err := New(Config{Source: "sacct", Cluster: "synth", Window: 72 * time.Hour}, store, nil, nil, &slurm.Sacct{Path: path},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return in, store
}

// sacct failing in each way it does: the window fails whole with sacct's
// own message, or (garbage lines) the good lines land and each bad one is
// a reject with its line number. Nothing half-read is kept.
func TestSacctFaults(t *testing.T) {
	from, to := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 3, 0, 0, 0, 0, time.UTC)
	lines, jobs := sacctText(t, from, to)
	all := strings.Join(lines, "")
	half := strings.Join(lines[:len(lines)/2], "")
	f := strings.Split(lines[0], slurm.SacctDelimiter)
	f[2] = "caf\xe9\x00" // JobName
	oddName := strings.Join(f, slurm.SacctDelimiter)
	cases := []struct {
		name        string
		sacct       string // path of the stand-in
		wantErr     string // "" means the window succeeds
		wantJobs    int
		wantRejects int
	}{
		{"answers", sacctStandIn(t, all, "", 0), "", jobs, 0},
		{"slurmdbd down (exit 1)", sacctStandIn(t, "", "sacct: error: Problem talking to the database: Connection refused", 1),
			"sacct exited 1: sacct: error: Problem talking to the database", 0, 0},
		{"partial output, then exit 1", sacctStandIn(t, half, "sacct: error: slurmdbd: Zero Bytes were transmitted or received", 1),
			"sacct exited 1", 0, 0},
		{"a line cut off, then killed", sacctStandIn(t, half+lines[len(lines)/2][:20], "", -9), "signal: killed", 0, 0},
		{"garbage lines", sacctStandIn(t, lines[0]+"this is not sacct output\n"+strings.Join(lines[1:], "")+"\x00\x01\x02\n", "", 0), "", jobs, 2},
		{"odd bytes in a job name", sacctStandIn(t, oddName+strings.Join(lines[1:], ""), "", 0), "", jobs, 0},
		{"missing binary", "/nonexistent/bin/sacct", "no such file or directory", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, store := sacctIngester(t, tc.sacct)
			sum, err := in.Run(context.Background(), from, to, Options{Trigger: "test"})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if n := countJobs(t, store); n != tc.wantJobs {
				t.Fatalf("%d jobs stored, want %d", n, tc.wantJobs)
			}
			if sum.Counts.Rejected != tc.wantRejects {
				t.Fatalf("%d rejects, want %d", sum.Counts.Rejected, tc.wantRejects)
			}
			var lineNos []int
			rows, _ := store.Pool().Query(context.Background(), `SELECT line_no FROM ingest_rejects ORDER BY line_no`)
			for rows.Next() {
				var n int
				rows.Scan(&n)
				lineNos = append(lineNos, n)
			}
			rows.Close()
			if tc.wantRejects > 0 && (len(lineNos) != tc.wantRejects || lineNos[0] != 2) {
				t.Errorf("reject line numbers %v, want the garbage's (2 and the last)", lineNos)
			}
			if tc.wantErr != "" {
				var runErr, source string
				store.Pool().QueryRow(context.Background(), `SELECT error, source FROM ingest_runs ORDER BY id DESC LIMIT 1`).Scan(&runErr, &source)
				if runErr == "" || source != "none" {
					t.Errorf("failed window logged as source=%q error=%q", source, runErr)
				}
			}
		})
	}
}
