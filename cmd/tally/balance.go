package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// apiBudgets is the part of /api/v1/budgets the balance table prints.
type apiBudgets struct {
	Budgets []struct {
		ID                                   int64
		Account, User, Unit, Starts, Ends    string
		Amount, Charged, Accruing, Remaining struct{ Value, Unit string }
		UsedPercent                          int64  `json:"used_percent"`
		RunsOut                              string `json:"runs_out"`
	}
}

func runBalance(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "balance", `balance [flags]

Prints the budgets you may see and what is left of them, like sbank balance:
budget, charged (the statements of the budget's periods), what your running
jobs have cost so far, what is left, and when the last 14 days' rate spends
it. Reads Tally's API with your personal token (TALLY_TOKEN, else
~/.config/tally/token; make one on Your account) at --url or TALLY_URL.
Admins on the Tally host can read the database instead (--database).`)
	if err := cfg.bind(fs, "database", "billing"); err != nil {
		return usageErr("%v", err)
	}
	base := fs.String("url", os.Getenv("TALLY_URL"), "Tally's address (https://tally.example.org) [TALLY_URL]")
	account := fs.String("account", "", "only this account's budgets")
	fromDB := fs.Bool("database", false, "read the database (TALLY_DATABASE_URL) instead of the API: every budget, for admins")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("balance takes no arguments (did you mean --account %s?)", fs.Arg(0))
	}
	if *fromDB {
		return balanceFromDatabase(ctx, env, &cfg, *account)
	}
	if *base == "" {
		return usageErr("give Tally's address with --url or TALLY_URL (or, on the Tally host, --database)")
	}
	token, err := apiToken(os.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	c, err := newAPIClient(*base, token)
	if err != nil {
		return fail("%v", err)
	}
	q := url.Values{}
	if *account != "" {
		q.Set("account", *account)
	}
	var ans apiBudgets
	if err := c.get(ctx, "/budgets", q, &ans); err != nil {
		return fail("%v", err)
	}
	if len(ans.Budgets) == 0 {
		fmt.Fprintln(env.stdout, "No budgets you may see.")
		return nil
	}
	lines := make([]balanceLine, 0, len(ans.Budgets))
	for _, b := range ans.Budgets {
		owner := b.Account
		if b.User != "" {
			owner = b.User + " in " + b.Account
		}
		q := func(v struct{ Value, Unit string }) string { return v.Value + " " + v.Unit }
		runsOut := b.RunsOut
		switch {
		case b.UsedPercent >= 100:
			runsOut = "spent"
		case runsOut == "":
			runsOut = "-"
		}
		starts, _ := time.Parse("2006-01-02", b.Starts)
		ends, _ := time.Parse("2006-01-02", b.Ends)
		lines = append(lines, balanceLine{ID: b.ID, Owner: owner, Unit: b.Unit, Range: starts.Format("2006-01") + ".." + ends.AddDate(0, -1, 0).Format("2006-01"),
			Budget: q(b.Amount), Charged: q(b.Charged), Running: q(b.Accruing), Left: q(b.Remaining), Used: b.UsedPercent, RunsOut: runsOut})
	}
	printBalanceLines(env.stdout, lines, false)
	return nil
}

// balanceFromDatabase is the admin's view on the Tally host: every budget.
func balanceFromDatabase(ctx context.Context, env *cmdEnv, cfg *Config, account string) error {
	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := billingpg.New(pool)
	rule := billing.Rounding(cfg.Rounding)
	pol, err := store.Policy(ctx, rule)
	if err != nil {
		return fail("%v", err)
	}
	budgets, err := store.VisibleBudgets(ctx, billingpg.Scope{All: true}, account)
	if err != nil {
		return fail("%v", err)
	}
	if len(budgets) == 0 {
		fmt.Fprintln(env.stdout, "No budgets.")
		return nil
	}
	bals, err := balancesNow(ctx, pool, store, budgets, rule)
	if err != nil {
		return fail("%v", err)
	}
	printBalances(env.stdout, pol, bals, false)
	return nil
}
