package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/synth"
)

func runGen(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "gen", `gen [flags]

Writes a synthetic cluster's job records, deterministic from --seed, as
sacct prints them for Tally's own arguments (so a script that prints this
can stand in for sacct via TALLY_SACCT) or as a slurmrestd /slurmdb answer.

  tally gen --seed 7 --from 2026-09-01 --to 2026-11-01 --jobs-per-day 2000 --format sacct -o jobs.txt`)
	seed := fs.Int64("seed", 7, "random seed")
	from := fs.String("from", time.Now().UTC().AddDate(0, -1, 0).Format("2006-01-02"), "first submit day (UTC)")
	to := fs.String("to", time.Now().UTC().Format("2006-01-02"), "end, exclusive (UTC)")
	perDay := fs.Int("jobs-per-day", 1000, "jobs submitted per day")
	format := fs.String("format", "sacct", "sacct, slurmdb-v0.0.38 or slurmdb-v0.0.41")
	users := fs.Int("users", 12, "number of users")
	accounts := fs.Int("accounts", 5, "number of accounts")
	cluster := fs.String("cluster", "demo", "cluster name in the records")
	parts := fs.String("partitions", "cpu,gpu,bigmem,short", "partitions (names with gpu get typed GPUs, mem large memory, short small jobs)")
	qos := fs.String("qos", "normal,standby,debug", "QOS levels, the common one first")
	out := fs.String("o", "-", "output file (- for standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	start, err := parseWhen(*from)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	end, err := parseWhen(*to)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	var w io.Writer = env.stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		w = bw
	}
	if *users < 1 || *accounts < 1 {
		return usageErr("--users and --accounts must be 1 or more")
	}
	cfg := synth.Config{Seed: *seed, From: start, To: end, JobsPerDay: *perDay, Cluster: *cluster, Users: synth.MakeUsers(*users, *accounts),
		Partitions: splitList(*parts), QOS: splitList(*qos)}
	n := 0
	switch *format {
	case "sacct":
		sw := synth.NewSacctWriter(w)
		err = synth.Generate(cfg, func(j slurm.Job) error { n++; return sw.Write(j) })
		if err == nil {
			err = sw.Flush()
		}
	case "slurmdb-v0.0.38", "slurmdb-v0.0.41":
		jw := synth.NewSlurmdbWriter(w, (*format)[len("slurmdb-"):])
		err = synth.Generate(cfg, func(j slurm.Job) error { n++; return jw.Write(j) })
		if err == nil {
			err = jw.Close()
		}
	default:
		return usageErr("--format %q: want sacct, slurmdb-v0.0.38 or slurmdb-v0.0.41", *format)
	}
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(env.stderr, "generated %d job records\n", n)
	return nil
}
