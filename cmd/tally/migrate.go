package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tally-hpc/tally/migrations"
)

func runMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "migrate", `migrate [flags] up|down [N]|status

  up        apply every pending migration
  down [N]  revert the newest migration, or down to version N (0 reverts all)
  status    list migrations and whether each is applied`)
	if err := cfg.bind(fs, "database"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageErr("say up, down or status")
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()

	switch rest[0] {
	case "up":
		rs, err := m.Up(ctx)
		for _, r := range rs {
			fmt.Fprintf(env.stdout, "applied %05d %s (%s)\n", r.Version, r.Name, r.Duration)
		}
		if err != nil {
			return fail("migrate up: %v", err)
		}
		if len(rs) == 0 {
			fmt.Fprintln(env.stdout, "schema is current")
		}
	case "down":
		if len(rest) > 1 {
			v, err := strconv.ParseInt(rest[1], 10, 64)
			if err != nil || v < 0 {
				return usageErr("down wants a version number, got %q", rest[1])
			}
			rs, err := m.DownTo(ctx, v)
			for _, r := range rs {
				fmt.Fprintf(env.stdout, "reverted %05d %s\n", r.Version, r.Name)
			}
			if err != nil {
				return fail("migrate down: %v", err)
			}
			return nil
		}
		r, err := m.Down(ctx)
		if err != nil {
			return fail("migrate down: %v", err)
		}
		fmt.Fprintf(env.stdout, "reverted %05d %s\n", r.Version, r.Name)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return fail("migrate status: %v", err)
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt
			}
			fmt.Fprintf(env.stdout, "%05d  %-40s %s\n", s.Version, s.Name, state)
		}
	default:
		return usageErr("unknown migrate action %q: say up, down or status", rest[0])
	}
	return nil
}
