package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

func runArchive(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "archive", `archive [flags] --month YYYY-MM --dir DIR | list

  --month M --dir D   archive the jobs submitted in month M (UTC) and their charges:
                      refused, with what blocks it, unless M has ended, every job of it has
                      ended and been rated, and every charge of them is in a closed period;
                      then both tables are written to D (gzipped COPY files and manifest.json,
                      one month to a directory), read back and compared with the database,
                      and only then detached (and dropped) in one transaction
  list                the archived months, and the months still in the database with their
                      rows and what keeps each from being archived

Periods' figures, statements and usage charts keep an archived month's jobs;
job lists, receipts and job-line exports no longer show them. Restoring a
month with psql: docs/scaling.md, "Archiving closed months".`)
	if err := cfg.bind(fs, "database", "log"); err != nil {
		return usageErr("%v", err)
	}
	dir := fs.String("dir", os.Getenv("TALLY_ARCHIVE_DIR"), "the directory the month's files are written to, one month to a directory [TALLY_ARCHIVE_DIR]")
	month := fs.String("month", "", "the month to archive, such as 2026-01 (UTC)")
	dryRun := fs.Bool("dry-run", false, "check, write and verify the archive; detach nothing")
	keep := fs.Bool("keep-tables", false, "leave the detached tables in the database (jobs_YYYY_MM, job_charges_YYYY_MM) instead of dropping them")
	by := fs.String("by", defaultActor(), "who archives, for archived_months")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 1 || len(rest) == 1 && rest[0] != "list" {
		return usageErr("say list, or give --month and --dir")
	}
	var m time.Time
	if len(rest) == 0 {
		if *month == "" {
			fs.Usage()
			return usageErr("--month is required (or say list)")
		}
		var err error
		if m, err = time.Parse("2006-01", *month); err != nil {
			return usageErr("--month %q: want a month such as 2026-01", *month)
		}
		if strings.TrimSpace(*dir) == "" {
			return usageErr("--dir is required: the directory the month's files go to")
		}
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := billingpg.New(pool)
	if len(rest) == 1 {
		return archiveList(ctx, env, store)
	}

	began := time.Now()
	res, err := store.Archive(ctx, billingpg.ArchiveOptions{Month: m, Dir: *dir, DryRun: *dryRun, KeepTables: *keep, By: *by,
		Progress: func(format string, a ...any) { fmt.Fprintf(env.stderr, format+"\n", a...) }})
	var blocked *billingpg.ArchiveBlocked
	if errors.As(err, &blocked) {
		return fail("%s cannot be archived; nothing was written:\n  %s", blocked.Month, strings.Join(blocked.Reasons, "\n  "))
	}
	if err != nil {
		return fail("%v", err)
	}
	man := res.Manifest
	var jobs, charges int64
	for _, t := range man.Tables {
		if t.Parent == "jobs" {
			jobs = t.Rows
		} else {
			charges = t.Rows
		}
	}
	took := time.Since(began).Round(time.Millisecond)
	switch {
	case *dryRun:
		fmt.Fprintf(env.stdout, "dry run: %s written to %s and verified (%d jobs, %d charges) in %s; nothing detached\n", man.Month, res.ManifestPath, jobs, charges, took)
	case res.Dropped:
		fmt.Fprintf(env.stdout, "archived %s: %d jobs, %d charges in %s, verified, detached and dropped in %s\n", man.Month, jobs, charges, res.ManifestPath, took)
	default:
		fmt.Fprintf(env.stdout, "archived %s: %d jobs, %d charges in %s, verified and detached in %s; the tables are kept, detached\n", man.Month, jobs, charges, res.ManifestPath, took)
	}
	return nil
}

func archiveList(ctx context.Context, env *cmdEnv, store *billingpg.Store) error {
	months, err := store.Months(ctx, time.Now())
	if err != nil {
		return fail("%v", err)
	}
	if len(months) == 0 {
		fmt.Fprintln(env.stdout, "No months yet: jobs are kept by the month they were submitted in.")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MONTH\tSTATE\tJOBS\tCHARGES\tNOTE")
	for _, m := range months {
		state, note := "attached", "can be archived"
		switch {
		case m.Archived:
			state = "archived"
			note = fmt.Sprintf("%s by %s: %s", m.ArchivedAt.UTC().Format("2006-01-02 15:04 UTC"), m.ArchivedBy, m.JobsFile)
		case len(m.Blockers) > 0:
			note = strings.Join(m.Blockers, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", m.Month.Format("2006-01"), state, m.Jobs, m.Charges, note)
	}
	return tw.Flush()
}
