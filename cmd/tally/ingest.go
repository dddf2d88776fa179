package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tally-hpc/tally/slurm/ingest"
)

func runIngest(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "ingest", `ingest [flags]

Pulls job records for a time range from slurmrestd (or sacct) into the
database, one window per transaction, printing progress as it goes.
Re-running a range changes nothing that has not changed in Slurm.

  tally ingest --from 2026-10-01 --to 2026-11-01
  tally ingest --from 2026-10-01 --to 2026-11-01 --resume   (after an interruption)
  tally ingest --source sacct --dry-run`)
	if err := cfg.bind(fs, "database", "log", "slurm", "ingest"); err != nil {
		return usageErr("%v", err)
	}
	now := time.Now().UTC()
	from := fs.String("from", now.Add(-24*time.Hour).Format("2006-01-02T15:04"), "start of the range (2026-10-01 or 2026-10-01T12:00, UTC)")
	to := fs.String("to", now.Format("2006-01-02T15:04"), "end of the range, exclusive (UTC)")
	source := fs.String("source", "", "override TALLY_INGEST_SOURCE for this run: auto, rest or sacct")
	dry := fs.Bool("dry-run", false, "read and count everything, write nothing")
	resume := fs.Bool("resume", false, "skip the start of the range that earlier runs committed (after an interrupted backfill)")
	assoc := fs.Bool("associations", true, "also refresh associations and coordinators (for roles and account pages)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source != "" {
		cfg.IngestSource = *source
	}
	start, err := parseWhen(*from)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	end, err := parseWhen(*to)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	if !start.Before(end) {
		return usageErr("--from must be before --to")
	}
	log := newLogger(&cfg, env)
	parts, err := cfg.slurmParts()
	if err != nil {
		return fail("%v", err)
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	in, err := cfg.ingester(pool, parts, log)
	if err != nil {
		return usageErr("%v", err)
	}
	if *resume {
		at, err := in.ResumeFrom(ctx, start, end)
		if err != nil {
			return fail("finding where to resume: %v", err)
		}
		if !at.Before(end) {
			fmt.Fprintf(env.stdout, "nothing to do: %s .. %s is already ingested (drop --resume to read it again)\n",
				start.Format("2006-01-02T15:04"), end.Format("2006-01-02T15:04"))
			return nil
		}
		if at.After(start) {
			fmt.Fprintf(env.stderr, "resuming at %s: the windows before it are already committed\n", at.Format("2006-01-02T15:04:05"))
			start = at
		}
	}
	began := time.Now()
	total := 0
	// Ctrl-C or SIGTERM: finish and commit the window in progress, then stop.
	work, cancel := ingest.Outliving(ctx, time.Minute)
	defer cancel()
	sum, err := in.Run(work, start, end, ingest.Options{DryRun: *dry, Trigger: "cli", Stop: ctx.Done(), Progress: func(r ingest.Report) {
		total += r.Counts.Total()
		rate := float64(total) / time.Since(began).Seconds()
		eta := time.Duration(float64(time.Since(began)) / float64(r.Index) * float64(r.Total-r.Index)).Round(time.Second)
		if r.Err != nil {
			fmt.Fprintf(env.stderr, "window %d/%d %s: FAILED: %v\n", r.Index, r.Total, r.Start.Format("2006-01-02T15:04"), r.Err)
			return
		}
		via := r.Source
		if r.Fallback != "" {
			via += " (fallback: " + r.Fallback + ")"
		}
		fmt.Fprintf(env.stderr, "window %d/%d %s via %s: %d records (new %d, changed %d, unchanged %d, rejected %d) · %.0f records/s · ETA %s\n",
			r.Index, r.Total, r.Start.Format("2006-01-02T15:04"), via, r.Counts.Total(), r.Counts.New, r.Counts.Changed,
			r.Counts.Unchanged, r.Counts.Rejected, rate, eta)
	}})
	verb := "ingested"
	if *dry {
		verb = "dry run: would have ingested"
	}
	fmt.Fprintf(env.stdout, "%s %d windows in %s: new %d, changed %d, unchanged %d, rejected %d\n", verb, sum.Windows,
		sum.Took.Round(time.Millisecond), sum.Counts.New, sum.Counts.Changed, sum.Counts.Unchanged, sum.Counts.Rejected)
	if err != nil {
		return fail("%v", err)
	}
	if *assoc && !*dry {
		na, nc, err := in.SyncAssociations(ctx, cfg.Sacctmgr)
		if err != nil {
			return fail("associations: %v", err)
		}
		fmt.Fprintf(env.stdout, "associations: %d user-account pairs, %d coordinators\n", na, nc)
	}
	return nil
}

// parseWhen reads a UTC date or date-time.
func parseWhen(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-10-01) or date-time (2026-10-01T12:00)", s)
}
