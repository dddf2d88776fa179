package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
)

// BudgetStore keeps budgets and works out their balances.
type BudgetStore struct {
	pool    *pgxpool.Pool
	cards   *CardStore
	periods *PeriodStore
}

const budgetColumns = `id, account, username, unit, amount, currency, starts, ends, thresholds, runs_out_days, enforce, note, updated_by, updated_at`

func scanBudget(row pgx.Row) (billing.Budget, error) {
	var b billing.Budget
	var unit string
	var thresholds []int32
	err := row.Scan(&b.ID, &b.Account, &b.User, &unit, &b.Amount, &b.Currency, &b.Starts, &b.Ends, &thresholds,
		&b.RunsOutDays, &b.Enforce, &b.Note, &b.UpdatedBy, &b.UpdatedAt)
	b.Unit = billing.BudgetUnit(unit)
	for _, t := range thresholds {
		b.Thresholds = append(b.Thresholds, int(t))
	}
	b.Starts, b.Ends, b.UpdatedAt = b.Starts.UTC(), b.Ends.UTC(), b.UpdatedAt.UTC()
	return b, err
}

// SetBudget stores a new budget (ID 0) or changes one, and returns it with
// what it replaced (nil for a new one), for the audit log. A money budget
// takes the currency of the rate cards when none is given; one in another
// currency is refused, as sums never mix currencies.
func (s *BudgetStore) SetBudget(ctx context.Context, b billing.Budget) (_ billing.Budget, old *billing.Budget, err error) {
	defer annotate(&err, "saving the budget of %s", b.Account)
	if len(b.Thresholds) == 0 {
		b.Thresholds = billing.DefaultThresholds()
	}
	if b.Unit == billing.UnitMoney {
		cards, err := s.cards.Cards(ctx)
		if err != nil {
			return b, nil, err
		}
		currencies := map[string]bool{}
		for _, c := range cards {
			currencies[c.Currency] = true
		}
		if b.Currency == "" && len(currencies) == 1 {
			for c := range currencies {
				b.Currency = c
			}
		}
		if len(currencies) > 0 && !currencies[b.Currency] {
			return b, nil, billing.Invalidf("budget for %s: currency %q is not the rate cards' (%v)", b.Account, b.Currency, keys(currencies))
		}
	} else {
		b.Currency = ""
	}
	if err := b.Validate(); err != nil {
		return b, nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if b.ID != 0 {
			prev, err := scanBudget(tx.QueryRow(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE id = $1 FOR UPDATE`, b.ID))
			if errors.Is(err, pgx.ErrNoRows) {
				return billing.NotFoundf("no budget %d", b.ID)
			}
			if err != nil {
				return err
			}
			old = &prev
			var err2 error
			b, err2 = scanBudget(tx.QueryRow(ctx, `UPDATE budgets SET account = $2, username = $3, unit = $4, amount = $5, currency = $6,
					starts = $7, ends = $8, thresholds = $9, runs_out_days = $10, enforce = $11, note = $12, updated_by = $13, updated_at = now()
				WHERE id = $1 RETURNING `+budgetColumns, b.ID, b.Account, b.User, string(b.Unit), b.Amount, b.Currency, b.Starts, b.Ends,
				b.Thresholds, b.RunsOutDays, b.Enforce, b.Note, b.UpdatedBy))
			return err2
		}
		var err error
		b, err = scanBudget(tx.QueryRow(ctx, `INSERT INTO budgets (account, username, unit, amount, currency, starts, ends, thresholds,
				runs_out_days, enforce, note, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+budgetColumns,
			b.Account, b.User, string(b.Unit), b.Amount, b.Currency, b.Starts, b.Ends, b.Thresholds, b.RunsOutDays, b.Enforce, b.Note, b.UpdatedBy))
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23P01" {
		return b, nil, billing.Conflictf("%s already has a %s budget overlapping %s to %s: change that one instead",
			budgetOwner(b), b.Unit, b.Starts.Format("2006-01-02"), b.Ends.Format("2006-01-02"))
	}
	return b, old, err
}

func budgetOwner(b billing.Budget) string {
	if b.User != "" {
		return b.User + " in " + b.Account
	}
	return b.Account
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// DeleteBudget removes a budget and returns what it was.
func (s *BudgetStore) DeleteBudget(ctx context.Context, id int64) (_ billing.Budget, err error) {
	defer annotate(&err, "deleting budget %d", id)
	b, err := scanBudget(s.pool.QueryRow(ctx, `DELETE FROM budgets WHERE id = $1 RETURNING `+budgetColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, billing.NotFoundf("no budget %d", id)
	}
	return b, err
}

// Budget reads one budget.
func (s *BudgetStore) Budget(ctx context.Context, id int64) (_ billing.Budget, err error) {
	defer annotate(&err, "reading budget %d", id)
	b, err := scanBudget(s.pool.QueryRow(ctx, `SELECT `+budgetColumns+` FROM budgets WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, billing.NotFoundf("no budget %d", id)
	}
	return b, err
}

// Budgets lists the budgets of accounts (nil: every account), newest
// range first.
func (s *BudgetStore) Budgets(ctx context.Context, accounts []string) (_ []billing.Budget, err error) {
	defer annotate(&err, "listing budgets")
	rows, err := s.pool.Query(ctx, `SELECT `+budgetColumns+` FROM budgets
		WHERE $1::text[] IS NULL OR account = ANY($1) ORDER BY account, username, starts DESC, unit`, accounts)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Budget, error) { return scanBudget(r) })
}

// Balances works out where each budget stands at now. Charged money is
// the sum of the statements of the periods inside the range, each as its
// statement shows it (issued when closed, previewed when open; a cap sums
// the person's statements), so a budget and the statements never
// disagree. Use is the unit-seconds of the charged jobs in those periods.
// Accruing is what the running jobs have cost so far at today's card
// (CostSoFar, rounded once by the policy), counted only while the range
// runs. running are the jobs Slurm runs now, read by the caller.
func (s *BudgetStore) Balances(ctx context.Context, budgets []billing.Budget, running []billing.RunningJob, now time.Time, rule billing.Rounding) (_ []billing.Balance, err error) {
	defer annotate(&err, "working out budget balances")
	if len(budgets) == 0 {
		return nil, nil
	}
	periods, err := s.periods.Periods(ctx)
	if err != nil {
		return nil, err
	}
	cards, err := s.cards.Cards(ctx)
	if err != nil {
		return nil, err
	}
	pol := billing.NewPolicy(rule, cards)
	rater := billing.Rater{Cards: cards, Rounding: rule}
	if running, err = s.chargedUntil(ctx, running); err != nil {
		return nil, err
	}
	out := make([]billing.Balance, 0, len(budgets))
	for _, b := range budgets {
		var inside []Period
		var ids []int64
		for _, p := range periods {
			if !p.Starts.Before(b.Starts) && !p.Ends.After(b.Ends) {
				inside = append(inside, p)
				ids = append(ids, p.ID)
			}
		}
		var charged, recent, accruing int64
		var byPeriod map[int64]int64
		if b.Unit == billing.UnitMoney {
			byPeriod, err = s.statementTotals(ctx, pol, b, inside)
		} else {
			byPeriod, err = s.used(ctx, b, ids)
		}
		if err != nil {
			return nil, err
		}
		amounts := make([]billing.PeriodAmount, 0, len(inside))
		for _, p := range inside {
			charged += byPeriod[p.ID]
			amounts = append(amounts, billing.PeriodAmount{Period: p.Name, Starts: p.Starts, Amount: byPeriod[p.ID]})
		}
		if b.Covers(now) {
			if recent, err = s.recent(ctx, b, now); err != nil {
				return nil, err
			}
			var exact billing.Micros
			for _, j := range running {
				if j.Account != b.Account || (b.User != "" && j.User != b.User) || j.State != "RUNNING" {
					continue
				}
				if b.Unit != billing.UnitMoney {
					accruing += j.UseSoFar(now).In(b.Unit)
					continue
				}
				ch, err := rater.CostSoFar(j, now)
				if err != nil {
					// A job no card prices accrues nothing (it would be
					// charged nothing either); the anomaly list names it.
					continue
				}
				if ch.Currency == b.Currency {
					exact += ch.Total
				}
			}
			if b.Unit == billing.UnitMoney {
				accruing = int64(pol.Round(exact, b.Currency))
			}
		}
		bal := billing.NewBalance(b, now, charged, accruing, recent)
		bal.ByPeriod = amounts
		out = append(out, bal)
	}
	return out, nil
}

// statementTotals gives each period's statement total for a money budget:
// the account's, or for a cap the person's within the account.
func (s *BudgetStore) statementTotals(ctx context.Context, pol billing.Policy, b billing.Budget, ps []Period) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(ps) == 0 {
		return out, nil
	}
	cs := ChargeScope{Accounts: []string{b.Account}}
	var sts map[int64][]Statement
	var err error
	if b.User == "" {
		sts, err = s.periods.periodStatements(ctx, s.pool, pol, ps, cs)
	} else {
		cs.User = b.User
		sts, err = s.periods.personStatements(ctx, s.pool, pol, ps, cs)
	}
	if err != nil {
		return nil, err
	}
	for id, list := range sts {
		for _, st := range list {
			if st.Account != b.Account {
				continue
			}
			if st.Currency != "" && st.Currency != b.Currency {
				return nil, billing.Invalidf("budget of %s is in %s but its statements are in %s", budgetOwner(b), b.Currency, st.Currency)
			}
			out[id] += int64(st.Total)
		}
	}
	return out, nil
}

// useSeconds is a charged job's use of one unit over its charge's portion.
const useSeconds = `extract(epoch FROM (c.portion_end - c.portion_start))::bigint`

func useColumn(unit billing.BudgetUnit) string {
	switch unit {
	case billing.UnitGPUHours:
		return "j.alloc_gpu"
	case billing.UnitBilling:
		return "j.alloc_billing"
	}
	return "j.alloc_cpu"
}

// archivedUseColumn is useColumn × useSeconds as archived_charge_usage
// keeps it.
func archivedUseColumn(unit billing.BudgetUnit) string {
	switch unit {
	case billing.UnitGPUHours:
		return "a.alloc_gpu_seconds"
	case billing.UnitBilling:
		return "a.alloc_billing_seconds"
	}
	return "a.alloc_cpu_seconds"
}

// used is the unit-seconds of the jobs charged in each of the periods.
func (s *BudgetStore) used(ctx context.Context, b billing.Budget, periods []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(periods) == 0 {
		return out, nil
	}
	// With what archived months kept of their charges (migration 00021).
	rows, err := s.pool.Query(ctx, `SELECT period_id, coalesce(sum(used), 0)::bigint FROM (
			SELECT c.period_id, sum(`+useColumn(b.Unit)+` * `+useSeconds+`) AS used
			FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit
			WHERE c.period_id = ANY($1) AND c.account = $2 AND ($3 = '' OR c.username = $3) AND c.not_charged = ''
			GROUP BY 1
			UNION ALL
			SELECT a.period_id, sum(`+archivedUseColumn(b.Unit)+`) FROM archived_charge_usage a
			WHERE a.period_id = ANY($1) AND a.account = $2 AND ($3 = '' OR a.username = $3)
			GROUP BY 1) u
		GROUP BY 1`, periods, b.Account, b.User)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// recent is what the budget's account (or person) was charged for jobs
// that ended in the forecast window before now: exact money, or use.
func (s *BudgetStore) recent(ctx context.Context, b billing.Budget, now time.Time) (int64, error) {
	expr := "c.total_micros"
	if b.Unit != billing.UnitMoney {
		expr = useColumn(b.Unit) + " * " + useSeconds
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(`+expr+`), 0)::bigint
		FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit
		WHERE c.portion_end > $1 AND c.portion_end <= $2 AND c.account = $3 AND ($4 = '' OR c.username = $4)
		  AND c.not_charged = '' AND ($5 = '' OR c.currency = $5)`,
		now.Add(-billing.ForecastWindow), now, b.Account, b.User, b.Currency).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("recent spending: %w", err)
	}
	return n, nil
}

// VisibleBudgets lists the budgets a viewer may see, of one account (""
// for all): everyone's for admins and finance; every budget of the
// accounts a coordinator coordinates; for anyone else the account-wide
// budgets of the accounts they belong to (a Slurm association or a job
// of theirs) and their own caps. This is the one rule pages, exports and
// the API use.
func (s *BudgetStore) VisibleBudgets(ctx context.Context, sc Scope, account string) (_ []billing.Budget, err error) {
	defer annotate(&err, "listing budgets")
	rows, err := s.pool.Query(ctx, `SELECT `+budgetColumns+` FROM budgets b
		WHERE ($4 = '' OR b.account = $4)
		  AND ($1 OR b.account = ANY($3)
		       OR ((b.username = '' OR b.username = $2)
		           AND (EXISTS (SELECT 1 FROM slurm_associations a WHERE a.account = b.account AND a.username = $2)
		                OR EXISTS (SELECT 1 FROM jobs j WHERE j.account = b.account AND j.username = $2))))
		ORDER BY b.account, b.username, b.starts DESC, b.unit`, sc.All, sc.User, sc.Accounts, account)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Budget, error) { return scanBudget(r) })
}

// chargedUntil marks running jobs whose part in an ended period split
// attribution has already charged, so that accruing counts only the rest.
func (s *BudgetStore) chargedUntil(ctx context.Context, running []billing.RunningJob) ([]billing.RunningJob, error) {
	if len(running) == 0 {
		return running, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT j.cluster, j.job_id, max(c.portion_end)
		FROM jobs j JOIN job_charges c ON c.job_row = j.id AND c.job_submit = j.submit_time
		WHERE j.end_time IS NULL AND c.not_charged = '' GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("charges of running jobs: %w", err)
	}
	defer rows.Close()
	type key struct {
		cluster string
		id      int64
	}
	until := map[key]time.Time{}
	for rows.Next() {
		var k key
		var t time.Time
		if err := rows.Scan(&k.cluster, &k.id, &t); err != nil {
			return nil, err
		}
		until[k] = t
	}
	if err := rows.Err(); err != nil || len(until) == 0 {
		return running, err
	}
	out := make([]billing.RunningJob, len(running))
	for i, j := range running {
		if t, ok := until[key{j.Cluster, j.JobID}]; ok {
			j.ChargedUntil = t
		}
		out[i] = j
	}
	return out, nil
}
