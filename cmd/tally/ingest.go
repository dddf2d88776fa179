package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
  tally ingest --source sacct --dry-run

With a clusters file (TALLY_CONFIG), every cluster in it is ingested in
turn; --cluster NAME ingests that one only. One cluster failing does not
stop the others (the exit status says some failed).`)
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
	clusters, err := cfg.clusters()
	if err != nil {
		return usageErr("%v", err)
	}
	all := clusters
	if cfg.ConfigFile != "" && cfg.Cluster != "" {
		var only []ClusterConfig
		for _, cl := range clusters {
			if cl.Name == cfg.Cluster {
				only = append(only, cl)
			}
		}
		if len(only) == 0 {
			return usageErr("--cluster %q is not in %s", cfg.Cluster, cfg.ConfigFile)
		}
		clusters = only
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	var failed []string
	for _, cl := range clusters {
		if *source != "" {
			cl.Source = *source
		}
		if len(clusters) > 1 {
			fmt.Fprintf(env.stdout, "cluster %s:\n", cl.Name)
		}
		if err := ingestCluster(ctx, env, pool, cl, otherNames(all, cl), log, start, end, *dry, *resume, *assoc); err != nil {
			fmt.Fprintf(env.stderr, "cluster %s: %v\n", cl.Name, err)
			failed = append(failed, cl.Name)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(clusters) == 1:
		return fail("ingest failed (see above)")
	default:
		return fail("ingest failed for %s; the other clusters are ingested", strings.Join(failed, ", "))
	}
}

// ingestCluster ingests one cluster's range, printing progress.
func ingestCluster(ctx context.Context, env *cmdEnv, pool *pgxpool.Pool, cl ClusterConfig, others []string, log *slog.Logger, start, end time.Time,
	dry, resume, assoc bool) error {
	parts, err := cl.slurmParts()
	if err != nil {
		return err
	}
	in, err := cl.ingester(pool, parts, log, others...)
	if err != nil {
		return err
	}
	if resume {
		at, err := in.ResumeFrom(ctx, start, end)
		if err != nil {
			return fmt.Errorf("finding where to resume: %v", err)
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
	sum, err := in.Run(work, start, end, ingest.Options{DryRun: dry, Trigger: "cli", Stop: ctx.Done(), Progress: func(r ingest.Report) {
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
	if dry {
		verb = "dry run: would have ingested"
	}
	fmt.Fprintf(env.stdout, "%s %d windows in %s: new %d, changed %d, unchanged %d, rejected %d\n", verb, sum.Windows,
		sum.Took.Round(time.Millisecond), sum.Counts.New, sum.Counts.Changed, sum.Counts.Unchanged, sum.Counts.Rejected)
	if err != nil {
		return err
	}
	if assoc && !dry {
		na, nc, err := in.SyncAssociations(ctx, cl.Sacctmgr)
		if err != nil {
			return fmt.Errorf("associations: %v", err)
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
