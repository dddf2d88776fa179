package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

func runCheck(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "check", `check [flags] --period NAME

Reconciles a billing period: for each cluster, the jobs its Slurm has for
the period against that cluster's jobs in the database (by job id and
submit time); every stored charge against a fresh rating by its cluster's
card; and, once closed, every statement against its charges. Prints each
difference; exits 1 if there is any.`)
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
		clusters, err := cfg.clusters()
		if err != nil {
			return usageErr("%v", err)
		}
		log := newLogger(&cfg, env)
		names := make([]string, 0, len(clusters))
		for _, cl := range clusters {
			// Each cluster's jobs against that cluster's own Slurm.
			found, line, err := checkClusterJobs(ctx, pool, cl, p, log)
			if err != nil {
				return err
			}
			// One cluster prints as Tally always has; several say whose.
			if len(clusters) > 1 {
				fmt.Fprintf(env.stdout, "jobs on %s: %s\n", cl.Name, line)
			} else {
				fmt.Fprintf(env.stdout, "jobs: %s\n", line)
			}
			diffs = append(diffs, found...)
			names = append(names, cl.Name)
		}
		// Jobs of clusters Tally no longer reads (a cluster renamed or
		// retired) have no Slurm to be compared with: say so. (An unnamed
		// cluster took every job above.)
		rows, err := pool.Query(ctx, `SELECT cluster, count(*) FROM jobs WHERE end_time >= $1 AND end_time < $2 AND NOT cluster = ANY($3)
			AND NOT '' = ANY($3) GROUP BY 1 ORDER BY 1`, p.Starts, p.Ends, names)
		if err != nil {
			return fail("%v", err)
		}
		for rows.Next() {
			var cluster string
			var n int64
			if err := rows.Scan(&cluster, &n); err != nil {
				rows.Close()
				return fail("%v", err)
			}
			fmt.Fprintf(env.stdout, "jobs on %s: %d in Tally, not compared (no such cluster is configured)\n", cluster, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail("%v", err)
		}
	}

	checked, chargeDiffs, err := store.Recheck(ctx, *period, billing.Rounding(cfg.Rounding))
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(env.stdout, "charges: %d recomputed, %d differ\n", checked, len(chargeDiffs))
	var archivedJobs int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0)::bigint FROM archived_charge_usage WHERE period_id = $1`, p.ID).Scan(&archivedJobs); err != nil {
		return fail("%v", err)
	}
	if archivedJobs > 0 {
		fmt.Fprintf(env.stdout, "charges: those of %d jobs submitted in archived months not recomputed (their rows are in the archive files; the statements are still checked)\n", archivedJobs)
	}
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

// checkClusterJobs compares the jobs one cluster's Slurm has ending in the
// period with that cluster's jobs in the database (by job id and submit
// time), returning each difference and a summary of the counts.
func checkClusterJobs(ctx context.Context, pool *pgxpool.Pool, cl ClusterConfig, p billing.Period, log *slog.Logger) ([]string, string, error) {
	parts, err := cl.slurmParts()
	if err != nil {
		return nil, "", fail("%v", err)
	}
	in, err := cl.ingester(pool, parts, log)
	if err != nil {
		return nil, "", usageErr("cluster %s: %v (or pass --skip-slurm)", cl.Name, err)
	}
	inSlurm := map[slurm.Key]bool{}
	src, err := in.Collect(ctx, p.Starts, p.Ends, func(j slurm.Job) error {
		if !j.End.IsZero() && !j.End.Before(p.Starts) && j.End.Before(p.Ends) {
			inSlurm[j.Key()] = true
		}
		return nil
	})
	if err != nil {
		return nil, "", fail("reading Slurm of cluster %s: %v", cl.Name, err)
	}
	// A cluster without a name (TALLY_CLUSTER empty) is whichever one
	// Slurm answers for: all of the database's jobs are its.
	rows, err := pool.Query(ctx, `SELECT cluster, job_id, submit_time FROM jobs WHERE ($3 = '' OR cluster = $3) AND end_time >= $1 AND end_time < $2`,
		p.Starts, p.Ends, cl.Name)
	if err != nil {
		return nil, "", fail("%v", err)
	}
	defer rows.Close()
	inDB := map[slurm.Key]bool{}
	for rows.Next() {
		var k slurm.Key
		var submit time.Time
		if err := rows.Scan(&k.Cluster, &k.JobID, &submit); err != nil {
			return nil, "", fail("%v", err)
		}
		k.Submit = submit.Unix()
		inDB[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, "", fail("%v", err)
	}
	// Jobs submitted in an archived month left the database with it
	// (tally archive): Slurm's records of them are not missing.
	months, err := pool.Query(ctx, `SELECT month::timestamp FROM archived_months`)
	if err != nil {
		return nil, "", fail("%v", err)
	}
	archivedMonths := map[time.Time]bool{}
	for months.Next() {
		var m time.Time
		if err := months.Scan(&m); err != nil {
			months.Close()
			return nil, "", fail("%v", err)
		}
		archivedMonths[m.UTC()] = true
	}
	months.Close()
	var missing, extra []string
	var archived int
	for k := range inSlurm {
		if !inDB[k] {
			submit := time.Unix(k.Submit, 0).UTC()
			if archivedMonths[time.Date(submit.Year(), submit.Month(), 1, 0, 0, 0, 0, time.UTC)] {
				archived++
				continue
			}
			missing = append(missing, fmt.Sprintf("job %d (%s, submitted %s) is in Slurm but not in Tally", k.JobID, k.Cluster, submit.Format(time.RFC3339)))
		}
	}
	for k := range inDB {
		if !inSlurm[k] {
			extra = append(extra, fmt.Sprintf("job %d (%s, submitted %s) is in Tally but not in Slurm", k.JobID, k.Cluster, time.Unix(k.Submit, 0).UTC().Format(time.RFC3339)))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	line := fmt.Sprintf("%d in Slurm (via %s), %d in Tally, %d missing, %d extra", len(inSlurm), src, len(inDB), len(missing), len(extra))
	if archived > 0 {
		line += fmt.Sprintf(", %d submitted in archived months (not compared)", archived)
	}
	return append(missing, extra...), line, nil
}
