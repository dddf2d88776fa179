package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-hpc/tally/billing"
)

// EnsureMonths creates calendar-month periods covering [from, to).
func (s *PeriodStore) EnsureMonths(ctx context.Context, from, to time.Time) (err error) {
	defer annotate(&err, "making monthly periods")
	m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	for ; m.Before(to); m = m.AddDate(0, 1, 0) {
		if _, err := s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			m.Format("2006-01"), m, m.AddDate(0, 1, 0)); err != nil {
			return err
		}
	}
	return nil
}

// Period finds a period by name.
func (s *PeriodStore) Period(ctx context.Context, name string) (_ Period, err error) {
	defer annotate(&err, "reading period %s", name)
	var p Period
	err = s.pool.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods WHERE name = $1`, name).
		Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status, &p.ClosedAt, &p.ClosedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, billing.NotFoundf("no billing period %q", name)
	}
	return p, err
}

// PeriodBreakdown is a period's charges grouped one way, with usage.
type PeriodBreakdown struct {
	Key       string
	Jobs      int64
	CoreHours string
	GPUHours  string
	Total     billing.Micros
}

// Breakdown groups a period's charged jobs by "user", "partition" or
// "qos", for accounts (nil: all). By user, each total is the person's
// statement total (their lines rounded once, their adjustments included),
// the figure of their statement page; by partition or QOS (no statement
// has those lines) it is the exact sum, rounded once for display.
func (s *PeriodStore) Breakdown(ctx context.Context, name, by string, accounts []string, rule billing.Rounding) (_ []PeriodBreakdown, err error) {
	defer annotate(&err, "breaking %s down by %s", name, by)
	col := map[string]string{"user": "c.username", "partition": "j.partition", "qos": "j.qos", "cluster": "c.cluster"}[by]
	if col == "" {
		return nil, billing.Invalidf("break down by user, partition, qos or cluster")
	}
	args := []any{name}
	cond, acond := "", ""
	if accounts != nil {
		args = append(args, accounts)
		cond, acond = " AND c.account = ANY($2)", " AND a.account = ANY($2)"
	}
	// Charges of archived months count through what the archive kept of
	// them (migration 00021): each job is in one or the other.
	rows, err := s.pool.Query(ctx, `SELECT key, sum(jobs)::bigint, sum(core)::bigint, sum(gpu)::bigint, sum(total)::bigint FROM (
			SELECT `+col+` AS key, count(DISTINCT c.job_row) AS jobs,
				coalesce(sum(j.req_cpu * j.elapsed_seconds), 0) AS core, coalesce(sum(j.req_gpu * j.elapsed_seconds), 0) AS gpu,
				coalesce(sum(c.total_micros), 0) AS total
			FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit JOIN billing_periods p ON p.id = c.period_id
			WHERE p.name = $1 AND c.not_charged = ''`+cond+` GROUP BY 1
			UNION ALL
			SELECT a.`+strings.TrimPrefix(strings.TrimPrefix(col, "c."), "j.")+`, sum(a.jobs), sum(a.core_seconds), sum(a.gpu_seconds), sum(a.total_micros)
			FROM archived_charge_usage a JOIN billing_periods p ON p.id = a.period_id
			WHERE p.name = $1`+acond+` GROUP BY 1) b
		GROUP BY 1 ORDER BY 5 DESC, 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("breakdown of %s by %s: %w", name, by, err)
	}
	var out []PeriodBreakdown
	for rows.Next() {
		var b PeriodBreakdown
		var core, gpu, total int64
		if err := rows.Scan(&b.Key, &b.Jobs, &core, &gpu, &total); err != nil {
			rows.Close()
			return nil, err
		}
		b.CoreHours, b.GPUHours, b.Total = hours(core), hours(gpu), billing.Micros(total)
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil || by != "user" {
		return out, err
	}
	return s.personTotals(ctx, name, accounts, rule, out)
}

// AccountOverview is one account's statement for a period (issued or
// previewed) and its people's totals, from one read of the sums: what the
// account page shows for the current period.
//
// With a cluster, only that cluster's lines count: built from the charges
// as the statement's own lines of that cluster are (adjustments, which
// belong to the account, are left out).
func (s *PeriodStore) AccountOverview(ctx context.Context, p Period, account, cluster string, rule billing.Rounding) (_ PeriodStatements, _ []PeriodBreakdown, err error) {
	defer annotate(&err, "reading %s in %s", account, p.Name)
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return PeriodStatements{}, nil, err
	}
	cs := ChargeScope{Accounts: []string{account}}
	if cluster != "" {
		cs.Viewer = &Scope{All: true, Cluster: cluster}
	}
	sums, err := chargeSums(ctx, s.pool, []int64{p.ID}, cs)
	if err != nil {
		return PeriodStatements{}, nil, err
	}
	var sts []Statement
	if p.Closed() && cluster == "" {
		issuedByPeriod := map[int64][]Statement{}
		if err := issued(ctx, s.pool, []Period{p}, cs.Accounts, issuedByPeriod); err != nil {
			return PeriodStatements{}, nil, err
		}
		sts = issuedByPeriod[p.ID]
	} else {
		sts = pol.BuildStatements(sums[p.ID])
	}
	ps, err := billing.NewPeriodStatements(p, sts)
	if err != nil {
		return ps, nil, err
	}
	people, err := peopleTotals(pol, sums[p.ID], nil)
	return ps, people, err
}

// personTotals sets each person's statement total and jobs (from the
// sums) on rows, adding people rows lack (adjustments only, or no rows
// given at all).
func (s *PeriodStore) personTotals(ctx context.Context, name string, accounts []string, rule billing.Rounding, rows []PeriodBreakdown) ([]PeriodBreakdown, error) {
	p, err := s.Period(ctx, name)
	if err != nil {
		return nil, err
	}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return nil, err
	}
	sums, err := chargeSums(ctx, s.pool, []int64{p.ID}, ChargeScope{Accounts: accounts})
	if err != nil {
		return nil, err
	}
	return peopleTotals(pol, sums[p.ID], rows)
}

// peopleTotals builds each person's statements from sums and sets their
// total and jobs on rows (adding rows for people missing), largest first.
func peopleTotals(pol billing.Policy, sums []billing.ChargeSum, rows []PeriodBreakdown) ([]PeriodBreakdown, error) {
	at := map[string]int{}
	for i, r := range rows {
		at[r.Key] = i
	}
	for user, us := range billing.ByUser(sums) {
		if user == "" {
			continue // adjustments not entered against a person
		}
		total, jobs, _, err := billing.Sum(pol.BuildStatements(us))
		if err != nil {
			return nil, err
		}
		i, ok := at[user]
		if !ok {
			rows = append(rows, PeriodBreakdown{Key: user, CoreHours: "0.00", GPUHours: "0.00"})
			i = len(rows) - 1
		}
		rows[i].Total, rows[i].Jobs = total, int64(jobs)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Total != rows[j].Total {
			return rows[i].Total > rows[j].Total
		}
		return rows[i].Key < rows[j].Key
	})
	return rows, nil
}

// AddPeriod creates a period with any range (a quarter, a fiscal year);
// the database refuses one that overlaps another.
func (s *PeriodStore) AddPeriod(ctx context.Context, name string, from, to time.Time) (err error) {
	defer annotate(&err, "adding period %s", name)
	if strings.TrimSpace(name) == "" {
		return billing.Invalidf("give the period a name")
	}
	if !to.After(from) {
		return billing.Invalidf("the period must end after it starts")
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3)`, name, from, to)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23P01":
			return billing.Conflictf("period %s (%s to %s) overlaps an existing period", name, from.Format("2006-01-02"), to.Format("2006-01-02"))
		case "23505":
			return billing.Conflictf("a period named %s exists", name)
		}
	}
	return err
}

// EnsureQuarters creates calendar-quarter periods (2026-Q4) covering
// [from, to).
func (s *PeriodStore) EnsureQuarters(ctx context.Context, from, to time.Time) (err error) {
	defer annotate(&err, "making quarterly periods")
	q := time.Date(from.Year(), time.Month((int(from.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	for ; q.Before(to); q = q.AddDate(0, 3, 0) {
		if _, err := s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			fmt.Sprintf("%d-Q%d", q.Year(), (int(q.Month())-1)/3+1), q, q.AddDate(0, 3, 0)); err != nil {
			return err
		}
	}
	return nil
}

// Periods lists every billing period, oldest first.
func (s *PeriodStore) Periods(ctx context.Context) (_ []Period, err error) {
	defer annotate(&err, "listing periods")
	rows, err := s.pool.Query(ctx, `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods ORDER BY starts_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Period
	for rows.Next() {
		var p Period
		if err := rows.Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status, &p.ClosedAt, &p.ClosedBy); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PeriodAt is the period holding t; ok is false when none does.
func (s *PeriodStore) PeriodAt(ctx context.Context, t time.Time) (p Period, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods
		WHERE starts_at <= $1 AND ends_at > $1`, t).Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status, &p.ClosedAt, &p.ClosedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("period at %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return p, true, nil
}
