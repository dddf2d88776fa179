package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

func runCheck(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "check", `check [flags] --period NAME

Reconciles a billing period: the jobs Slurm has for it against the jobs in
the database (by cluster, job id and submit time), every stored charge
against a fresh rating, and, once closed, every statement against its
charges. Prints each difference; exits 1 if there is any.`)
	if err := cfg.bind(fs, "database", "log", "slurm", "ingest", "billing"); err != nil {
		return usageErr("%v", err)
	}
	period := fs.String("period", "", "the period to check, such as 2026-10 (required)")
	skipSlurm := fs.Bool("skip-slurm", false, "check the charges only, without asking Slurm")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *period == "" {
		return usageErr("--period is required")
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := billingpg.New(pool)
	p, err := store.Period(ctx, *period)
	if err != nil {
		return fail("%v", err)
	}
	var diffs []string

	if !*skipSlurm {
		parts, err := cfg.slurmParts()
		if err != nil {
			return fail("%v", err)
		}
		in, err := cfg.ingester(pool, parts, newLogger(&cfg, env))
		if err != nil {
			return usageErr("%v (or pass --skip-slurm)", err)
		}
		inSlurm := map[slurm.Key]bool{}
		src, err := in.Collect(ctx, p.Starts, p.Ends, func(j slurm.Job) error {
			if !j.End.IsZero() && !j.End.Before(p.Starts) && j.End.Before(p.Ends) {
				inSlurm[j.Key()] = true
			}
			return nil
		})
		if err != nil {
			return fail("reading Slurm: %v", err)
		}
		rows, err := pool.Query(ctx, `SELECT cluster, job_id, submit_time FROM jobs WHERE end_time >= $1 AND end_time < $2`, p.Starts, p.Ends)
		if err != nil {
			return fail("%v", err)
		}
		inDB := map[slurm.Key]bool{}
		for rows.Next() {
			var k slurm.Key
			var submit time.Time
			if err := rows.Scan(&k.Cluster, &k.JobID, &submit); err != nil {
				rows.Close()
				return fail("%v", err)
			}
			k.Submit = submit.Unix()
			inDB[k] = true
		}
		rows.Close()
		var missing, extra []string
		for k := range inSlurm {
			if !inDB[k] {
				missing = append(missing, fmt.Sprintf("job %d (%s, submitted %s) is in Slurm but not in Tally", k.JobID, k.Cluster, time.Unix(k.Submit, 0).UTC().Format(time.RFC3339)))
			}
		}
		for k := range inDB {
			if !inSlurm[k] {
				extra = append(extra, fmt.Sprintf("job %d (%s, submitted %s) is in Tally but not in Slurm", k.JobID, k.Cluster, time.Unix(k.Submit, 0).UTC().Format(time.RFC3339)))
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		diffs = append(append(diffs, missing...), extra...)
		fmt.Fprintf(env.stdout, "jobs: %d in Slurm (via %s), %d in Tally, %d missing, %d extra\n", len(inSlurm), src, len(inDB), len(missing), len(extra))
	}

	checked, chargeDiffs, err := store.Recheck(ctx, *period, billing.Rounding(cfg.Rounding))
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(env.stdout, "charges: %d recomputed, %d differ\n", checked, len(chargeDiffs))
	diffs = append(diffs, chargeDiffs...)
	for _, d := range diffs {
		fmt.Fprintln(env.stdout, "  "+d)
	}
	if len(diffs) > 0 {
		return fail("%s: %d differences", *period, len(diffs))
	}
	fmt.Fprintf(env.stdout, "%s reconciles\n", *period)
	return nil
}
