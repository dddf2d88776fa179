package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

func runRates(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "rates", `rates [flags] import FILE | list | show NAME VERSION

  import FILE         load rate card versions from a YAML file (see
                      billing/testdata/standard.yaml); stored versions with the
                      same content are skipped, changed ones are refused
  list                every version, newest last
  show NAME VERSION   one version as YAML (a starting point for the next)`)
	if err := cfg.bind(fs, "database", "log"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageErr("say import, list or show")
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := billingpg.New(pool)
	switch rest[0] {
	case "import":
		if len(rest) != 2 {
			return usageErr("import wants one file")
		}
		f, err := os.Open(rest[1])
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		parts, err := store.KnownPartitions(ctx)
		if err != nil {
			return fail("%v", err)
		}
		cards, err := billing.ParseRateFile(f, parts)
		if err != nil {
			return fail("%s: %v", rest[1], err)
		}
		res, err := store.Import(ctx, cards, "tally rates import")
		if err != nil {
			return fail("%v", err)
		}
		for _, a := range res.Added {
			fmt.Fprintf(env.stdout, "added     %s\n", a)
		}
		for _, u := range res.Unchanged {
			fmt.Fprintf(env.stdout, "unchanged %s\n", u)
		}
	case "list":
		cards, err := store.Cards(ctx)
		if err != nil {
			return fail("%v", err)
		}
		if len(cards) == 0 {
			fmt.Fprintln(env.stdout, "no rate cards yet: tally rates import billing/testdata/standard.yaml")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tEFFECTIVE FROM\tCLUSTER\tCURRENCY\tBASIS\tPARTITIONS")
		for _, c := range cards {
			var ps []string
			for p := range c.Partitions {
				ps = append(ps, p)
			}
			sort.Strings(ps)
			cl := c.Cluster
			if cl == "" {
				cl = "any"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Version, c.EffectiveFrom.Format(time.RFC3339), cl, c.Currency, c.Basis, strings.Join(ps, ","))
		}
		tw.Flush()
	case "show":
		if len(rest) != 3 {
			return usageErr("show wants a name and a version")
		}
		cards, err := store.Cards(ctx)
		if err != nil {
			return fail("%v", err)
		}
		for _, c := range cards {
			if c.Name == rest[1] && fmt.Sprint(c.Version) == rest[2] {
				b, err := billing.MarshalVersion(c)
				if err != nil {
					return fail("%v", err)
				}
				env.stdout.Write(b)
				return nil
			}
		}
		return fail("no rate card %s version %s", rest[1], rest[2])
	default:
		return usageErr("unknown rates action %q: say import, list or show", rest[0])
	}
	return nil
}

func runRate(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "rate", `rate [flags]

Rates (or re-rates) every ended job whose charge is not in a closed period,
under the rate card version in force at each job's end. Deterministic: a
second run changes nothing. Closed periods are never touched.

With --changed, only the jobs written since the last rating run (what tally
serve does after each ingest); every job when rate cards, periods or options
changed since the last run that rated them all.`)
	if err := cfg.bind(fs, "database", "log", "billing"); err != nil {
		return usageErr("%v", err)
	}
	onlyChanged := fs.Bool("changed", false, "rate only the jobs written since the last rating run")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.validateBilling(); err != nil {
		return usageErr("%v", err)
	}
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	sum, err := billingpg.New(pool).RateOpen(ctx, billingpg.RateOptions{
		Attribution: cfg.Attribution, Rounding: billing.Rounding(cfg.Rounding), OnlyChanged: *onlyChanged,
		Progress: func(n int) { fmt.Fprintf(env.stderr, "rated %d jobs…\n", n) },
	})
	if err != nil {
		return fail("%v", err)
	}
	if *onlyChanged && !sum.OnlyChanged {
		fmt.Fprintln(env.stdout, "rate cards, periods or options changed since the last run: rated every open job")
	}
	fmt.Fprintf(env.stdout, "rated %d jobs in %s: %d charges, %d written, %d unchanged, %d in closed periods left alone\n",
		sum.Jobs, sum.Took.Round(time.Millisecond), sum.Charges, sum.Written, sum.Unchanged, sum.Closed)
	if sum.Failed > 0 {
		return fail("%d jobs could not be rated; the first: %s", sum.Failed, sum.FirstFail)
	}
	return nil
}

func runEstimate(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "estimate", `estimate [flags]

What a job would cost under the rate card in force, with the breakdown.

  tally estimate --partition gpu --cpus 8 --mem 64G --gpus a100:2 --time 12:00:00`)
	if err := cfg.bind(fs, "database", "log", "billing"); err != nil {
		return usageErr("%v", err)
	}
	partition := fs.String("partition", "", "partition (required)")
	cpus := fs.Int64("cpus", 1, "CPUs")
	mem := fs.String("mem", "", "memory, such as 64G or 512M")
	nodes := fs.Int64("nodes", 1, "nodes")
	gpus := fs.String("gpus", "", "GPUs: a count, or type:count such as a100:2")
	walltime := fs.String("time", "", "run time, such as 12:00:00 or 1-00:00:00 (required)")
	qos := fs.String("qos", "normal", "QOS")
	account := fs.String("account", "", "account (for its discount)")
	cpuTime := fs.String("cpu-time", "", "CPU time the job would use, such as 90:00:00 (default: every CPU busy for the whole time)")
	cpuEff := fs.String("cpu-efficiency", "", "instead of --cpu-time: the percentage of CPUs × time the job would keep busy, such as 75")
	end := fs.String("end", "", "when the job would end, whose rate card applies (default now)")
	rates := fs.String("rates", "", "price with this YAML rate file instead of the database's cards")
	asJSON := fs.Bool("json", false, "print JSON with exact amounts as strings")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *partition == "" || *walltime == "" {
		return usageErr("--partition and --time are required")
	}
	in := billing.EstimateInput{Cluster: cfg.Cluster, Partition: *partition, Account: strings.TrimSpace(*account), QOS: strings.TrimSpace(*qos),
		CPUs: *cpus, Nodes: *nodes, Typed: true}
	if *cpus < 1 {
		return usageErr("--cpus: give a whole number, 1 or more")
	}
	if *nodes < 1 {
		return usageErr("--nodes: give a whole number, 1 or more")
	}
	var err error
	if in.MemMiB, err = billing.ParseMemory(*mem); err != nil {
		return usageErr("%v", err)
	}
	if in.GPUs, err = billing.ParseGPUs(*gpus); err != nil {
		return usageErr("%v", err)
	}
	if in.Duration, err = billing.ParseWalltime(*walltime); err != nil {
		return usageErr("%v", err)
	}
	if *cpuTime != "" {
		if in.CPUTime, err = billing.ParseCPUTime(*cpuTime); err != nil {
			return usageErr("--cpu-time: %v", err)
		}
	}
	if in.CPUEfficiencyPPM, err = billing.ParseEfficiency(*cpuEff); err != nil {
		return usageErr("--cpu-efficiency: %v", err)
	}
	if *end != "" {
		if in.End, err = parseWhen(*end); err != nil {
			return usageErr("--end: %v", err)
		}
	}
	var cards billing.Cards
	// A rate file needs no database, but whether Slurm knows an account
	// is only in one: without it, only accounts the card names pass.
	var store *billingpg.Store
	if *rates == "" || (in.Account != "" && cfg.DatabaseURL != "") {
		pool, err := openDatabase(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		store = billingpg.New(pool)
	}
	if *rates != "" {
		f, err := os.Open(*rates)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		if cards, err = billing.ParseRateFile(f, nil); err != nil {
			return fail("%v", err)
		}
	} else if cards, err = store.Cards(ctx); err != nil {
		return fail("%v", err)
	}
	if in.Account != "" && store != nil {
		if in.AccountKnown, err = store.KnownAccount(ctx, in.Account); err != nil {
			return fail("%v", err)
		}
	}
	ch, err := billing.Rater{Cards: cards, Rounding: billing.Rounding(cfg.Rounding)}.Estimate(in)
	if err != nil {
		return fail("%v", err)
	}
	pol := billing.NewPolicy(billing.Rounding(cfg.Rounding), cards)
	if *asJSON {
		type jl struct {
			Component         string `json:"component"`
			GPUType           string `json:"gpu_type,omitempty"`
			Quantity          string `json:"quantity"`
			Unit              string `json:"unit"`
			UnitPrice         string `json:"unit_price"`
			QOSMultiplier     string `json:"qos_multiplier"`
			AccountMultiplier string `json:"account_multiplier"`
			Amount            string `json:"amount"`
			Note              string `json:"note,omitempty"`
		}
		out := struct {
			Total        string `json:"total"`
			TotalRounded string `json:"total_rounded"`
			Currency     string `json:"currency"`
			RateCard     string `json:"rate_card"`
			Lines        []jl   `json:"lines"`
		}{Total: ch.Total.String(), TotalRounded: pol.Format(ch.Total, ch.Currency), Currency: ch.Currency, RateCard: fmt.Sprintf("%s v%d", ch.RateCardName, ch.RateCardVersion), Lines: []jl{}}
		for _, l := range ch.Lines {
			out.Lines = append(out.Lines, jl{l.Component, l.GPUType, l.Quantity, l.Unit, l.UnitPrice.String(), l.QOSMultiplier.String(),
				l.AccountMultiplier.String(), l.Amount.String(), l.Note})
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Rate card %s v%d (%s)\n\n", ch.RateCardName, ch.RateCardVersion, ch.Currency)
	fmt.Fprintln(tw, "COMPONENT\tQUANTITY\tUNIT PRICE\tMULTIPLIERS\tAMOUNT")
	for _, l := range ch.Lines {
		c := l.Component
		if l.GPUType != "" {
			c += " (" + l.GPUType + ")"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t×%s ×%s\t%s\n", c, l.Quantity, l.Unit, l.UnitPrice, l.QOSMultiplier, l.AccountMultiplier, l.Amount)
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t%s %s\n", ch.Total, ch.Currency)
	fmt.Fprintf(tw, "ROUNDED\t\t\t\t%s\n", pol.Money(ch.Total, ch.Currency))
	if ch.NotCharged != "" {
		fmt.Fprintf(tw, "\n%s\n", ch.NotCharged)
	}
	return tw.Flush()
}

func (c *Config) validateBilling() error {
	if _, err := billing.ParseRounding(c.Rounding); err != nil {
		return err
	}
	if c.Attribution != "end" && c.Attribution != "split" {
		return fmt.Errorf("attribution %q: want end or split", c.Attribution)
	}
	return nil
}
