package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// Where --resume starts: after the unbroken run of committed, cluster-wide
// windows from the start of the range; a failed, dry-run or one person's
// (sign-in) window is no cover, and a gap ends the run.
func TestResumeFrom(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	type win struct {
		from, to int
		source   string
		trigger  string
		dry      bool
	}
	ok := func(from, to int) win { return win{from, to, "rest", "cli", false} }
	cases := []struct {
		name string
		runs []win
		want int // day of October
	}{
		{"nothing yet", nil, 1},
		{"three windows", []win{ok(1, 2), ok(2, 3), ok(3, 4)}, 4},
		{"a gap", []win{ok(1, 2), ok(3, 4)}, 2},
		{"a failed window", []win{ok(1, 2), {2, 3, "none", "cli", false}, ok(3, 4)}, 2},
		{"a dry run", []win{ok(1, 2), {2, 3, "sacct", "cli", true}}, 2},
		{"one person's sign-in ingest", []win{ok(1, 2), {2, 3, "rest", "login", false}}, 2},
		{"overlapping, out of order", []win{ok(2, 5), ok(1, 3)}, 5},
		{"beyond the range", []win{ok(1, 31)}, 10},
		{"starting before the range", []win{ok(0, 4)}, 4},
	}
	store := jobstore.New(pgtest.New(t))
	in, err := New(Config{Source: "sacct", Cluster: "c1", Window: 24 * time.Hour}, store, nil, nil, &slurm.Sacct{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := store.Pool().Exec(ctx, `DELETE FROM ingest_runs`); err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.runs {
				run := jobstore.Run{Cluster: "c1", WindowStart: day(1).AddDate(0, 0, r.from-1), WindowEnd: day(1).AddDate(0, 0, r.to-1),
					Source: r.source, Trigger: r.trigger, Started: time.Now(), DryRun: r.dry}
				if r.source == "none" {
					run.Error = "sacct exited 1"
					if err := store.RecordFailure(ctx, run); err != nil {
						t.Fatal(err)
					}
					continue
				}
				w, err := store.Begin(ctx, r.source)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Commit(ctx, run); err != nil {
					t.Fatal(err)
				}
			}
			// Another cluster's windows never count.
			other, _ := store.Begin(ctx, "rest")
			other.Commit(ctx, jobstore.Run{Cluster: "c2", WindowStart: day(1), WindowEnd: day(20), Source: "rest", Trigger: "cli", Started: time.Now()})

			got, err := in.ResumeFrom(ctx, day(1), day(10))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(day(tc.want)) {
				t.Errorf("resume at %s, want %s", got.Format("01-02"), day(tc.want).Format("01-02"))
			}
		})
	}
}
