// Command tally is the Tally usage-and-billing portal for Slurm clusters:
// the web server, the schema migrator and the operator's tools in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of tally.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv carries the process's streams, so commands are testable.
type cmdEnv struct {
	stdout, stderr io.Writer
}

// exitError carries an exit code with an already user-facing message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(format string, a ...any) error { return &exitError{code: 1, msg: fmt.Sprintf(format, a...)} }

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

func commands() []command {
	return []command{
		{"serve", "run the web portal (and scheduled ingest)", runServe},
		{"migrate", "apply, revert or list schema migrations", runMigrate},
		{"check", "reconcile a period: Slurm vs database, charges vs a fresh rating", runCheck},
		{"config", "print the configuration reference", runConfig},
		{"demo", "a living demo on a synthetic cluster (loopback only)", runDemo},
		{"export", "finance CSV for a period: --what accounts|jobs|adjustments NAME", runExport},
		{"gen", "write a synthetic cluster's job records (sacct or slurmdb JSON)", runGen},
		{"ingest", "pull job records from slurmrestd or sacct into the database", runIngest},
		{"period", "billing periods: list, ensure, preview, close, export", runPeriod},
		{"archive", "write a closed month's jobs and charges to files, verify, detach; list", runArchive},
		{"rates", "import, list and show rate cards", runRates},
		{"rate", "rate every ended job in open periods", runRate},
		{"estimate", "what a job would cost, with the breakdown", runEstimate},
		{"budget", "budgets: list, show, set, delete (with balances)", runBudget},
		{"balance", "what is left of your budgets (through the API with your token)", runBalance},
		{"jwks", "print the JWKS that Slurm needs for Tally's RS256 key", runJWKS},
		{"keygen", "write a new key for TALLY_SESSION_KEY_FILE", runKeygen},
		{"api", "read the JSON API with your personal token (TALLY_TOKEN)", runAPI},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cmdEnv{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, env *cmdEnv, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintf(env.stderr, "tally %s: %s\n", c.name, ee.msg)
			return ee.code
		}
		fmt.Fprintf(env.stderr, "tally %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(env.stderr, "tally: unknown command %q (try tally --help)\n", args[0])
	return 2
}

func printUsage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "Tally: usage and billing for Slurm clusters.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: tally <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	sorted := append([]command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `tally <command> --help` for a command's flags. Every flag can also be set")
	fmt.Fprintln(w, "with a TALLY_* environment variable (see `tally config`).")
}

// newFlagSet makes a flag set whose --help lists the environment variable
// behind every flag.
func newFlagSet(env *cmdEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("tally "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := env.stdout
		fmt.Fprintf(w, "Usage: tally %s\n\n", usage)
		fmt.Fprintln(w, "Flags (environment variable in brackets):")
		var c Config
		envOf := map[string]string{}
		for _, o := range c.options() {
			envOf[o.flag] = o.env
		}
		fs.VisitAll(func(f *flag.Flag) {
			line := "  --" + f.Name
			if e := envOf[f.Name]; e != "" {
				line += " [" + e + "]"
			}
			fmt.Fprintln(w, line)
			fmt.Fprintf(w, "      %s", f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// parse applies flags and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	return nil
}

func runConfig(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) > 0 && args[0] == "check" {
		return runConfigCheck(env, args[1:])
	}
	fs := newFlagSet(env, "config", `config | config check [flags]

  config         prints every setting as a Markdown table (the README's configuration section)
  config check   reads the settings and the clusters file (--config, TALLY_CONFIG) and says
                 what Tally would read from each cluster, or each mistake on a line of its own`)
	if err := parse(fs, args); err != nil {
		return err
	}
	writeConfigTable(env.stdout)
	return nil
}

func runConfigCheck(env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "config check", "config check [flags]\n\nChecks the clusters file (or the one cluster of the TALLY_* settings).")
	if err := cfg.bind(fs, "slurm", "ingest"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	list, err := cfg.clusters()
	if err != nil {
		return fail("%v", err)
	}
	for _, cl := range list {
		fmt.Fprintln(env.stdout, cl.describe())
	}
	fmt.Fprintf(env.stdout, "ok: %d cluster(s)\n", len(list))
	return nil
}
