package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

func runPeriod(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "period", `period [flags] list | ensure FROM TO | add NAME FROM TO | preview NAME | close NAME | export NAME

  list           periods with status, jobs and charges
  ensure F T     create calendar-month periods covering F..T (2026-01-01 2027-01-01);
                 --quarterly for calendar quarters (2026-Q4)
  add N F T      one period of any range, e.g. a fiscal year (FY2027 2026-07-01 2027-07-01)
  preview NAME   each account's statement as closing would freeze it
  close NAME     freeze the period: numbered, hashed statements (one transaction)
  export NAME    CSV to standard output (or -o FILE): --what accounts|jobs`)
	if err := cfg.bind(fs, "database", "log", "billing"); err != nil {
		return usageErr("%v", err)
	}
	what := fs.String("what", "accounts", "export: accounts (summary), jobs (job lines) or adjustments")
	out := fs.String("o", "-", "export: output file")
	bom := fs.Bool("bom", false, "export: begin with a UTF-8 byte-order mark (for Excel on Windows)")
	ack := fs.Bool("ack", false, "close: close even though the preview lists anomalies")
	quarterly := fs.Bool("quarterly", false, "ensure: calendar quarters instead of months")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageErr("say list, ensure, preview, close or export")
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := billingpg.New(pool)
	rule := billing.Rounding(cfg.Rounding)
	need := func(n int) error {
		if len(rest) != n+1 {
			return usageErr("%s wants %d argument(s)", rest[0], n)
		}
		return nil
	}
	switch rest[0] {
	case "list":
		ps, err := store.PeriodSummaries(ctx, nil, rule)
		if err != nil {
			return fail("%v", err)
		}
		pol, err := store.Policy(ctx, rule)
		if err != nil {
			return fail("%v", err)
		}
		tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PERIOD\tFROM\tTO\tSTATUS\tJOBS\tCHARGES")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.Name, p.Starts.Format("2006-01-02"), p.Ends.Format("2006-01-02"), p.Status, p.Jobs, pol.Money(p.Total, p.Currency))
		}
		tw.Flush()
	case "ensure":
		if err := need(2); err != nil {
			return err
		}
		from, err1 := parseWhen(rest[1])
		to, err2 := parseWhen(rest[2])
		if err1 != nil || err2 != nil {
			return usageErr("ensure wants two dates such as 2026-01-01 2027-01-01")
		}
		ensure := store.EnsureMonths
		if *quarterly {
			ensure = store.EnsureQuarters
		}
		if err := ensure(ctx, from, to); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintln(env.stdout, "periods ready")
	case "add":
		if err := need(3); err != nil {
			return err
		}
		from, err1 := parseWhen(rest[2])
		to, err2 := parseWhen(rest[3])
		if err1 != nil || err2 != nil {
			return usageErr("add wants a name and two dates such as FY2027 2026-07-01 2027-07-01")
		}
		if err := store.AddPeriod(ctx, rest[1], from, to); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(env.stdout, "period %s added\n", rest[1])
	case "preview", "close":
		if err := need(1); err != nil {
			return err
		}
		anomalies, err := store.Anomalies(ctx, rest[1])
		if err != nil {
			return fail("%v", err)
		}
		for _, a := range anomalies {
			fmt.Fprintf(env.stderr, "anomaly %s (%d): %s\n", a.Kind, a.Count, a.Detail)
		}
		var ps billingpg.PeriodStatements
		if rest[0] == "close" {
			if len(anomalies) > 0 && !*ack {
				return fail("%s has %d anomalies (above): resolve them, or pass --ack to close anyway", rest[1], len(anomalies))
			}
			ps, err = store.ClosePeriod(ctx, rest[1], "tally period close", rule)
		} else {
			ps, err = store.Statements(ctx, rest[1], nil, rule)
		}
		if err != nil {
			return fail("%v", err)
		}
		pol, err := store.Policy(ctx, rule)
		if err != nil {
			return fail("%v", err)
		}
		tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATEMENT\tACCOUNT\tJOBS\tTOTAL\tSHA-256")
		for _, st := range ps.Statements {
			num := st.Number
			if num == "" {
				num = "(preview)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", num, st.Account, st.Jobs, pol.Money(st.Total, st.Currency), st.SHA256[:16])
		}
		tw.Flush()
		fmt.Fprintf(env.stdout, "%s %s: %d statements, %d jobs, total %s\n", ps.Period.Name, ps.Period.Status, len(ps.Statements), ps.Jobs, pol.Money(ps.Total, ps.Currency))
	case "export":
		if err := need(1); err != nil {
			return err
		}
		w := env.stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return fail("%v", err)
			}
			defer f.Close()
			w = f
		}
		if *bom {
			if _, err := io.WriteString(w, "\ufeff"); err != nil {
				return fail("%v", err)
			}
		}
		began := time.Now()
		switch *what {
		case "accounts":
			err = store.WriteAccountSummary(ctx, w, rest[1], nil, rule)
		case "jobs":
			err = store.WriteJobLines(ctx, w, rest[1], nil)
		case "adjustments":
			err = store.WriteAdjustments(ctx, w, rest[1], nil)
		default:
			return usageErr("--what %q: want accounts, jobs or adjustments", *what)
		}
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(env.stderr, "exported %s of %s in %s\n", *what, rest[1], time.Since(began).Round(time.Millisecond))
	default:
		return usageErr("unknown period action %q", rest[0])
	}
	return nil
}

// runExport is `tally period export` under the name finance looks for.
func runExport(ctx context.Context, env *cmdEnv, args []string) error {
	// Flags first, then "export NAME", as tally period expects.
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--help" || a == "-h":
			fmt.Fprintln(env.stdout, `Usage: tally export [--what accounts|jobs|adjustments] [-o FILE] [--bom] PERIOD

Writes a period's finance CSV (docs/csv.md): the account summary, the job
lines or the adjustments. The same as tally period export; every TALLY_*
database setting applies.`)
			return flag.ErrHelp
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if !strings.Contains(a, "=") && (a == "--what" || a == "-what" || a == "-o" || a == "--o") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return runPeriod(ctx, env, append(append(flags, "export"), rest...))
}
