package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/audit"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

func runBudget(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "budget", `budget [flags] list | show ID | set ACCOUNT AMOUNT FIRST LAST | delete ID

  list                    every budget with its balance now
  show ID                 one budget, period by period
  set A AMOUNT F L        give account A a budget from month F to month L (2027-01 2027-12):
                          AMOUNT in the rate card's currency (--unit money) or in hours
                          (--unit core-hours|gpu-hours|billing-hours); --id N changes budget N
  delete ID               remove a budget (its alerts go with it)

Every change is written to the audit log under --by (default: the Unix user).`)
	if err := cfg.bind(fs, "database", "log", "billing"); err != nil {
		return usageErr("%v", err)
	}
	unit := fs.String("unit", "money", "set: money, core-hours, gpu-hours or billing-hours")
	user := fs.String("user", "", "set: a cap for this person inside the account")
	thresholds := fs.String("thresholds", "50,80,100", "set: alert at these percentages")
	runsOut := fs.Int("runs-out-days", 0, "set: also alert when the forecast says it runs out within this many days (0: never)")
	enforce := fs.Bool("enforce", false, "set: hold the account in Slurm once the budget is spent")
	note := fs.String("note", "", "set: a note for the audit log and the budgets page")
	id := fs.Int64("id", 0, "set: change this budget instead of adding one")
	by := fs.String("by", defaultActor(), "who is making the change, for the audit log")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageErr("say list, show, set or delete")
	}
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
	need := func(n int) error {
		if len(rest) != n+1 {
			return usageErr("%s wants %d argument(s)", rest[0], n)
		}
		return nil
	}
	switch rest[0] {
	case "list":
		if err := need(0); err != nil {
			return err
		}
		budgets, err := store.Budgets(ctx, nil)
		if err != nil {
			return fail("%v", err)
		}
		if len(budgets) == 0 {
			fmt.Fprintln(env.stdout, "No budgets yet: tally budget set ACCOUNT AMOUNT FIRST-MONTH LAST-MONTH adds one.")
			return nil
		}
		bals, err := balancesNow(ctx, pool, store, budgets, rule)
		if err != nil {
			return fail("%v", err)
		}
		printBalances(env.stdout, pol, bals, true)
	case "show":
		if err := need(1); err != nil {
			return err
		}
		n, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			return usageErr("show wants a budget number, not %q", rest[1])
		}
		b, err := store.Budget(ctx, n)
		if err != nil {
			return fail("%v", err)
		}
		bals, err := balancesNow(ctx, pool, store, []billing.Budget{b}, rule)
		if err != nil {
			return fail("%v", err)
		}
		printBalances(env.stdout, pol, bals, true)
		fmt.Fprintln(env.stdout)
		fmt.Fprintln(env.stdout, pol.Describe(b))
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "PERIOD\tCHARGED\tSPENT BY ITS END\t")
		var cum int64
		for _, p := range bals[0].ByPeriod {
			cum += p.Amount
			fmt.Fprintf(tw, "%s\t%s\t%s\t\n", p.Period, pol.FormatBudgetAmount(b, p.Amount), pol.FormatBudgetAmount(b, cum))
		}
		tw.Flush()
	case "set":
		if err := need(4); err != nil {
			return err
		}
		b := billing.Budget{ID: *id, Account: rest[1], User: *user, Unit: billing.BudgetUnit(*unit), RunsOutDays: *runsOut,
			Enforce: *enforce, Note: *note, UpdatedBy: *by}
		if b.Amount, err = billing.ParseBudgetAmount(b.Unit, rest[2]); err != nil {
			return usageErr("%v", err)
		}
		first, err1 := time.Parse("2006-01", rest[3])
		last, err2 := time.Parse("2006-01", rest[4])
		if err1 != nil || err2 != nil {
			return usageErr("give the first and last months as 2027-01 2027-12")
		}
		b.Starts, b.Ends = first, last.AddDate(0, 1, 0)
		if b.Thresholds, err = billing.ParseThresholds(*thresholds); err != nil {
			return usageErr("%v", err)
		}
		saved, old, err := store.SetBudget(ctx, b)
		if err != nil {
			return fail("%v", err)
		}
		if err := audit.New(pool).RecordAdmin(ctx, *by, "budget_set", pol.DescribeChange(saved, old)); err != nil {
			return fail("the budget is saved, but the audit log refused it: %v", err)
		}
		fmt.Fprintf(env.stdout, "saved budget %d: %s\n", saved.ID, pol.Describe(saved))
	case "delete":
		if err := need(1); err != nil {
			return err
		}
		n, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			return usageErr("delete wants a budget number, not %q", rest[1])
		}
		b, err := store.DeleteBudget(ctx, n)
		if err != nil {
			return fail("%v", err)
		}
		if err := audit.New(pool).RecordAdmin(ctx, *by, "budget_deleted", pol.DescribeChange(b, nil)); err != nil {
			return fail("the budget is deleted, but the audit log refused it: %v", err)
		}
		fmt.Fprintf(env.stdout, "deleted budget %d: %s\n", b.ID, pol.Describe(b))
	default:
		fs.Usage()
		return usageErr("unknown budget command %q", rest[0])
	}
	return nil
}

// balancesNow works out budgets' balances with the running jobs of the
// last live refresh.
func balancesNow(ctx context.Context, pool *pgxpool.Pool, store *billingpg.Store, budgets []billing.Budget, rule billing.Rounding) ([]billing.Balance, error) {
	var accounts []string
	for _, b := range budgets {
		if !slices.Contains(accounts, b.Account) {
			accounts = append(accounts, b.Account)
		}
	}
	running, err := jobstore.LiveJobs(ctx, pool, "", accounts, "")
	if err != nil {
		return nil, err
	}
	return store.Balances(ctx, budgets, running, time.Now(), rule)
}

// balanceLine is one row of a balance table, however it was read.
type balanceLine struct {
	ID                                      int64
	Owner, Unit, Range                      string
	Budget, Charged, Running, Left, RunsOut string
	Used                                    int64
}

// balanceLines prints balances read from the database as the pages do.
func balanceLines(pol billing.Policy, bals []billing.Balance) []balanceLine {
	out := make([]balanceLine, 0, len(bals))
	for _, bal := range bals {
		b := bal.Budget
		f := func(v int64) string { return pol.FormatBudgetAmount(b, v) }
		runsOut := "-"
		switch {
		case bal.Exhausted():
			runsOut = "spent"
		case bal.RunsOut != nil:
			runsOut = bal.RunsOut.Format("2006-01-02")
		}
		out = append(out, balanceLine{ID: b.ID, Owner: b.Owner(), Unit: string(b.Unit), Range: b.Starts.Format("2006-01") + ".." + b.LastMonth(),
			Budget: f(b.Amount), Charged: f(bal.Charged), Running: f(bal.Accruing), Left: f(bal.Remaining()), Used: bal.UsedPercent(), RunsOut: runsOut})
	}
	return out
}

// printBalances writes balances as a table, the way sbank balance does.
func printBalances(w io.Writer, pol billing.Policy, bals []billing.Balance, withID bool) {
	printBalanceLines(w, balanceLines(pol, bals), withID)
}

func printBalanceLines(w io.Writer, lines []balanceLine, withID bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ACCOUNT\tUNIT\tRANGE\tBUDGET\tCHARGED\tRUNNING\tLEFT\tUSED\tRUNS OUT"
	if withID {
		head = "ID\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, l := range lines {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d%%\t%s", l.Owner, l.Unit, l.Range, l.Budget, l.Charged, l.Running, l.Left, l.Used, l.RunsOut)
		if withID {
			row = strconv.FormatInt(l.ID, 10) + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
}

// defaultActor is who runs the command: the user behind sudo when there is one.
func defaultActor() string {
	for _, k := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return "cli"
}
