package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// Statement and PeriodStatements are the billing domain's; storage reads
// and writes them.
type (
	Statement        = billing.Statement
	PeriodStatements = billing.PeriodStatements
	Period           = billing.Period
)

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ChargeScope says whose charges a statement figure covers. Every amount
// and job count Tally shows for a period (an account's statement, a
// person's statement, a dashboard's current period) is built from the
// charges one ChargeScope selects, by chargeSums and
// billing.Policy.BuildStatements: there is no second way to add them up.
type ChargeScope struct {
	Accounts []string // nil: every account
	User     string   // "": every person
	Viewer   *Scope   // also only what this viewer may see (nil: no limit)
}

// where renders the scope as conditions on a table with account and
// username columns under alias, appending arguments.
func (cs ChargeScope) where(alias string, args *[]any) string {
	var conds []string
	if cs.Accounts != nil {
		*args = append(*args, cs.Accounts)
		conds = append(conds, fmt.Sprintf("%s.account = ANY($%d)", alias, len(*args)))
	}
	if cs.User != "" {
		*args = append(*args, cs.User)
		conds = append(conds, fmt.Sprintf("%s.username = $%d", alias, len(*args)))
	}
	if cs.Viewer != nil && !cs.Viewer.All {
		*args = append(*args, cs.Viewer.User)
		cond := fmt.Sprintf("%s.username = $%d", alias, len(*args))
		if len(cs.Viewer.Accounts) > 0 {
			*args = append(*args, cs.Viewer.Accounts)
			cond = fmt.Sprintf("(%s OR %s.account = ANY($%d))", cond, alias, len(*args))
		}
		conds = append(conds, cond)
	}
	if cs.Viewer != nil && cs.Viewer.Cluster != "" {
		if alias == "a" {
			// Adjustments belong to an account, not to a cluster: one
			// cluster's figures leave them out.
			conds = append(conds, "FALSE")
		} else {
			*args = append(*args, cs.Viewer.Cluster)
			conds = append(conds, fmt.Sprintf("%s.cluster = $%d", alias, len(*args)))
		}
	}
	if len(conds) == 0 {
		return "TRUE"
	}
	return strings.Join(conds, " AND ")
}

// chargeSums reads, for each of the periods, the exact sum of every
// component of each account's and person's job lines per cluster in
// scope, their count of distinct charged jobs (component ""), and their
// adjustments, in one query (one snapshot). A job counts when its charge
// in the period is not marked "not charged"; a split job has one charge
// per period, so it counts once in each.
//
// A period closed before statements had lines per cluster (its statements
// have hash version 1 or 2) reads its sums without their cluster: its
// statements were issued per component across clusters, and everything
// built from its charges (person statements, rechecks) still adds up the
// way they were.
func chargeSums(ctx context.Context, q querier, periods []int64, cs ChargeScope) (map[int64][]billing.ChargeSum, error) {
	args := []any{periods}
	charges := cs.where("c", &args)
	adjustments := cs.where("a", &args)
	// charge_sums is kept by triggers in the transaction of every write
	// to job_charges (migrations 00014 and 00018): the same sums, a few
	// rows each.
	rows, err := q.Query(ctx, `WITH merged AS (SELECT DISTINCT period_id FROM statements WHERE period_id = ANY($1) AND hash_version < 3)
		SELECT period_id, account, username, CASE WHEN period_id IN (SELECT period_id FROM merged) THEN '' ELSE cluster END,
				currency, component, jobs, exact_micros
			FROM charge_sums c WHERE c.period_id = ANY($1) AND `+charges+`
		UNION ALL
		SELECT a.period_id, a.account, a.username, '', '', $`+fmt.Sprint(len(args)+1)+`, count(*)::bigint, sum(a.amount_micros)::bigint
			FROM adjustments a WHERE a.period_id = ANY($1) AND `+adjustments+` GROUP BY 1, 2, 3`,
		append(args, billing.AdjustmentsComponent)...)
	if err != nil {
		return nil, fmt.Errorf("reading charges: %w", err)
	}
	defer rows.Close()
	out := map[int64][]billing.ChargeSum{}
	for rows.Next() {
		var period, jobs, exact int64
		var s billing.ChargeSum
		if err := rows.Scan(&period, &s.Account, &s.User, &s.Cluster, &s.Currency, &s.Component, &jobs, &exact); err != nil {
			return nil, fmt.Errorf("reading charges: %w", err)
		}
		s.Jobs, s.Exact = int(jobs), billing.Micros(exact)
		out[period] = append(out[period], s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading charges: %w", err)
	}
	return out, nil
}

// Policy is the rounding policy for rule and the currencies of the stored
// rate cards.
func (s *CardStore) Policy(ctx context.Context, rule billing.Rounding) (billing.Policy, error) {
	cards, err := s.Cards(ctx)
	if err != nil {
		return billing.Policy{}, fmt.Errorf("rate cards for the rounding policy: %w", err)
	}
	return billing.NewPolicy(rule, cards), nil
}

// Statements returns a period's account statements: as issued when it is
// closed, a preview (the same computation a close makes) when it is open.
// accounts, when not nil, limits which.
func (s *PeriodStore) Statements(ctx context.Context, name string, accounts []string, rule billing.Rounding) (_ PeriodStatements, err error) {
	defer annotate(&err, "reading the statements of %s", name)
	p, err := s.Period(ctx, name)
	if err != nil {
		return PeriodStatements{}, err
	}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return PeriodStatements{}, err
	}
	sts, err := s.periodStatements(ctx, s.pool, pol, []Period{p}, ChargeScope{Accounts: accounts})
	if err != nil {
		return PeriodStatements{}, err
	}
	return billing.NewPeriodStatements(p, sts[p.ID])
}

// periodStatements gives each period's account statements in scope:
// stored for closed periods, previewed for open ones.
func (s *PeriodStore) periodStatements(ctx context.Context, q querier, pol billing.Policy, ps []Period, cs ChargeScope) (map[int64][]Statement, error) {
	out := map[int64][]Statement{}
	var open []int64
	var closed []Period
	for _, p := range ps {
		if p.Closed() {
			closed = append(closed, p)
		} else {
			open = append(open, p.ID)
		}
	}
	if len(open) > 0 {
		sums, err := chargeSums(ctx, q, open, cs)
		if err != nil {
			return nil, err
		}
		byID := map[int64]Period{}
		for _, p := range ps {
			byID[p.ID] = p
		}
		details, err := statementDetails(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, id := range open {
			sts := pol.BuildStatements(sums[id])
			for i := range sts {
				sts[i].Details = details[sts[i].Account]
				sts[i].HashVersion = billing.HashVersion
				sts[i].SHA256 = sts[i].Hash(byID[id])
			}
			out[id] = sts
		}
	}
	if len(closed) > 0 {
		if err := issued(ctx, q, closed, cs.Accounts, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statementDetails maps accounts to the details a statement prints now
// (accounts without stored details print none).
func statementDetails(ctx context.Context, q querier) (map[string]billing.AccountDetails, error) {
	rows, err := q.Query(ctx, `SELECT account, display_name, pi, cost_centre, po_number FROM account_details`)
	if err != nil {
		return nil, fmt.Errorf("account details: %w", err)
	}
	defer rows.Close()
	out := map[string]billing.AccountDetails{}
	for rows.Next() {
		var a string
		var d billing.AccountDetails
		if err := rows.Scan(&a, &d.DisplayName, &d.PI, &d.CostCentre, &d.PONumber); err != nil {
			return nil, fmt.Errorf("account details: %w", err)
		}
		out[a] = d
	}
	return out, rows.Err()
}

// issued reads the statements issued at the closes of periods.
func issued(ctx context.Context, q querier, ps []Period, accounts []string, into map[int64][]Statement) error {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	args := []any{ids}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND s.account = ANY($2)"
	}
	rows, err := q.Query(ctx, `SELECT s.period_id, s.number, s.account, s.currency, s.jobs, s.total_micros, s.sha256, s.hash_version,
			s.display_name, s.pi, s.cost_centre, s.po_number, l.cluster, l.component, l.jobs, l.exact_micros, l.amount_micros
		FROM statements s JOIN statement_lines l ON l.statement_id = s.id
		WHERE s.period_id = ANY($1)`+cond+` ORDER BY s.period_id, s.account`, args...)
	if err != nil {
		return fmt.Errorf("reading statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var period int64
		var st Statement
		var l billing.StatementLine
		var total, exact, amount int64
		d := &st.Details
		if err := rows.Scan(&period, &st.Number, &st.Account, &st.Currency, &st.Jobs, &total, &st.SHA256, &st.HashVersion,
			&d.DisplayName, &d.PI, &d.CostCentre, &d.PONumber, &l.Cluster, &l.Component, &l.Jobs, &exact, &amount); err != nil {
			return fmt.Errorf("reading statements: %w", err)
		}
		l.Account, l.Exact, l.Amount = st.Account, billing.Micros(exact), billing.Micros(amount)
		sts := into[period]
		if len(sts) == 0 || sts[len(sts)-1].Account != st.Account {
			st.Total = billing.Micros(total)
			sts = append(sts, st)
		}
		sts[len(sts)-1].Lines = append(sts[len(sts)-1].Lines, l)
		into[period] = sts
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading statements: %w", err)
	}
	for _, sts := range into {
		for i := range sts {
			billing.SortLines(sts[i].Lines)
		}
	}
	return nil
}

// PeriodSummary is one row of the periods list: the sum of the period's
// statements in scope (as issued, or as previewed).
type PeriodSummary struct {
	Period
	Jobs     int64
	Total    billing.Micros
	Currency string
}

// PeriodSummaries lists periods, newest first, with the totals of their
// statements for accounts (nil: all).
func (s *PeriodStore) PeriodSummaries(ctx context.Context, accounts []string, rule billing.Rounding) (_ []PeriodSummary, err error) {
	defer annotate(&err, "listing periods with their totals")
	return s.summaries(ctx, rule, ChargeScope{Accounts: accounts})
}

// UserPeriodSummaries lists periods with one person's statement totals:
// the same figures as their statement page for each period.
func (s *PeriodStore) UserPeriodSummaries(ctx context.Context, user string, rule billing.Rounding) (_ []PeriodSummary, err error) {
	defer annotate(&err, "listing the statements of %s", user)
	return s.summaries(ctx, rule, ChargeScope{User: user})
}

func (s *PeriodStore) summaries(ctx context.Context, rule billing.Rounding, cs ChargeScope) ([]PeriodSummary, error) {
	ps, err := s.Periods(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return nil, err
	}
	var sts map[int64][]Statement
	if cs.User == "" {
		sts, err = s.periodStatements(ctx, s.pool, pol, ps, cs)
	} else {
		sts, err = s.personStatements(ctx, s.pool, pol, ps, cs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]PeriodSummary, 0, len(ps))
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		total, jobs, currency, err := billing.Sum(sts[p.ID])
		if err != nil {
			return nil, fmt.Errorf("period %s: %w", p.Name, err)
		}
		out = append(out, PeriodSummary{Period: p, Jobs: int64(jobs), Total: total, Currency: currency})
	}
	return out, nil
}

// personStatements builds statements of one person's charges (and the
// adjustments entered against them) per account, for each period, always
// from the charges: a closed period's charges are frozen with it, so its
// person statements never change either.
func (s *PeriodStore) personStatements(ctx context.Context, q querier, pol billing.Policy, ps []Period, cs ChargeScope) (map[int64][]Statement, error) {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	sums, err := chargeSums(ctx, q, ids, cs)
	if err != nil {
		return nil, err
	}
	out := map[int64][]Statement{}
	for id, s := range sums {
		out[id] = pol.BuildStatements(s)
	}
	return out, nil
}

// UserStatement is one person's charges in a period, per account and
// component, each line rounded once: the person's statement.
type UserStatement struct {
	Period    Period
	User      string
	Lines     []billing.StatementLine
	Total     billing.Micros
	Currency  string
	Jobs      int64
	CoreHours string
	GPUHours  string
}

// UserStatement builds a person's statement for a period, limited to
// accounts (nil: all).
func (s *PeriodStore) UserStatement(ctx context.Context, name, user string, accounts []string, rule billing.Rounding) (_ UserStatement, err error) {
	defer annotate(&err, "reading the statement of %s for %s", user, name)
	p, err := s.Period(ctx, name)
	if err != nil {
		return UserStatement{}, err
	}
	us := UserStatement{Period: p, User: user}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return us, err
	}
	sts, err := s.personStatements(ctx, s.pool, pol, []Period{p}, ChargeScope{User: user, Accounts: accounts})
	if err != nil {
		return us, err
	}
	total, jobs, currency, err := billing.Sum(sts[p.ID])
	if err != nil {
		return us, err
	}
	us.Total, us.Jobs, us.Currency = total, int64(jobs), currency
	for _, st := range sts[p.ID] {
		us.Lines = append(us.Lines, st.Lines...)
	}
	args := []any{p.ID, user}
	cond, acond := "", ""
	if accounts != nil {
		args = append(args, accounts)
		cond, acond = " AND c.account = ANY($3)", " AND a.account = ANY($3)"
	}
	// With what archived months kept of their charges (migration 00021).
	var core, gpu int64
	err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(core), 0)::bigint, coalesce(sum(gpu), 0)::bigint FROM (
			SELECT sum(j.req_cpu * j.elapsed_seconds) AS core, sum(j.req_gpu * j.elapsed_seconds) AS gpu
			FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit
			WHERE c.period_id = $1 AND c.username = $2 AND c.not_charged = ''`+cond+`
			UNION ALL
			SELECT sum(a.core_seconds), sum(a.gpu_seconds) FROM archived_charge_usage a WHERE a.period_id = $1 AND a.username = $2`+acond+`) u`,
		args...).Scan(&core, &gpu)
	if err != nil {
		return us, fmt.Errorf("usage of %s in %s: %w", user, name, err)
	}
	us.CoreHours, us.GPUHours = hours(core), hours(gpu)
	return us, nil
}

// ScopeStatements are the statements of what a viewer may see in a
// period (their own jobs and the accounts they coordinate; everything
// for admins): the dashboard's figures for the current period.
func (s *PeriodStore) ScopeStatements(ctx context.Context, p Period, sc Scope, rule billing.Rounding) (_ PeriodStatements, err error) {
	defer annotate(&err, "reading the statements of %s", p.Name)
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return PeriodStatements{}, err
	}
	sums, err := chargeSums(ctx, s.pool, []int64{p.ID}, ChargeScope{Viewer: &sc})
	if err != nil {
		return PeriodStatements{}, err
	}
	return billing.NewPeriodStatements(p, pol.BuildStatements(sums[p.ID]))
}
