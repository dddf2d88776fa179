package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
func (s *Store) EnsureMonths(ctx context.Context, from, to time.Time) error {
	m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	for ; m.Before(to); m = m.AddDate(0, 1, 0) {
		if _, err := s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			m.Format("2006-01"), m, m.AddDate(0, 1, 0)); err != nil {
			return err
		}
	}
	return nil
}

// Statement is one account's statement for a period: a preview while the
// period is open, the stored snapshot once it is closed.
type Statement struct {
	Number   string // empty in a preview
	Account  string
	Currency string
	Jobs     int
	Lines    []billing.StatementLine
	Total    billing.Micros
	SHA256   string
}

// PeriodStatements is every account's statement of a period.
type PeriodStatements struct {
	Period     Period
	Statements []Statement
	Total      billing.Micros
	Currency   string
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Period finds a period by name.
func (s *Store) Period(ctx context.Context, name string) (Period, error) {
	var p Period
	err := s.pool.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods WHERE name = $1`, name).
		Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status, &p.ClosedAt, &p.ClosedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, billing.NotFoundf("no billing period %q", name)
	}
	return p, err
}

// preview computes statements from the period's charges: per account and
// component, the exact sum of the jobs' lines rounded once.
func preview(ctx context.Context, q querier, p Period, accounts []string, rule billing.Rounding, digits map[string]int) ([]Statement, error) {
	args := []any{p.ID}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND c.account = ANY($2)"
	}
	// Lines are stored as arrays: element 0 is the component, 7 the amount.
	rows, err := q.Query(ctx, `SELECT c.account, max(c.currency), l->>0, count(DISTINCT c.job_row), sum((l->>7)::bigint)::bigint
		FROM job_charges c, json_array_elements(c.lines) l
		WHERE c.period_id = $1`+cond+`
		GROUP BY 1, 3 ORDER BY 1, 3`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		var acct, currency, comp string
		var jobs int
		var exact int64
		if err := rows.Scan(&acct, &currency, &comp, &jobs, &exact); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Account != acct {
			out = append(out, Statement{Account: acct, Currency: currency})
		}
		st := &out[len(out)-1]
		line := billing.StatementLine{Account: acct, Component: comp, Jobs: jobs, Exact: billing.Micros(exact)}
		line.Amount = rule.ToMinor(line.Exact, minorDigits(digits, currency))
		st.Lines = append(st.Lines, line)
		st.Total += line.Amount
		if jobs > st.Jobs {
			st.Jobs = jobs
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Adjustments: one line per account, summed exactly, rounded once.
	arows, err := q.Query(ctx, `SELECT account, count(*), sum(amount_micros)::bigint FROM adjustments
		WHERE period_id = $1`+strings.Replace(cond, "c.account", "account", 1)+` GROUP BY 1 ORDER BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer arows.Close()
	for arows.Next() {
		var acct string
		var n int
		var exact int64
		if err := arows.Scan(&acct, &n, &exact); err != nil {
			return nil, err
		}
		i := sort.Search(len(out), func(i int) bool { return out[i].Account >= acct })
		if i == len(out) || out[i].Account != acct {
			out = append(out, Statement{})
			copy(out[i+1:], out[i:])
			out[i] = Statement{Account: acct}
		}
		line := billing.StatementLine{Account: acct, Component: "adjustments", Jobs: n, Exact: billing.Micros(exact)}
		cur := out[i].Currency
		if cur == "" {
			cur = currencyOf(out)
		}
		line.Amount = rule.ToMinor(line.Exact, minorDigits(digits, cur))
		out[i].Lines = append(out[i].Lines, line)
		out[i].Total += line.Amount
	}
	if err := arows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Currency == "" {
			out[i].Currency = currencyOf(out)
		}
		out[i].SHA256 = statementHash(p, out[i])
	}
	return out, nil
}

// minorDigits is the currency's minor-unit decimals as its rate card says.
func minorDigits(digits map[string]int, currency string) int {
	if d, ok := digits[currency]; ok {
		return d
	}
	return billing.DefaultMinorDigits(currency)
}

// currencyDigits maps each rate card currency to its minor-unit digits.
func (s *Store) currencyDigits(ctx context.Context) (map[string]int, error) {
	cards, err := s.Cards(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, c := range cards {
		m[c.Currency] = c.MinorDigits
	}
	return m, nil
}

func currencyOf(sts []Statement) string {
	for _, s := range sts {
		if s.Currency != "" {
			return s.Currency
		}
	}
	return "USD"
}

// statementHash is SHA-256 over the statement's canonical text, so anyone
// can check a printed statement against its lines.
func statementHash(p Period, st Statement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tally-statement-v1\nperiod %s %s %s\naccount %s\ncurrency %s\n", p.Name,
		p.Starts.UTC().Format(time.RFC3339), p.Ends.UTC().Format(time.RFC3339), st.Account, st.Currency)
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "line %s jobs=%d exact=%s amount=%s\n", l.Component, l.Jobs, l.Exact, l.Amount)
	}
	fmt.Fprintf(&b, "total %s\n", st.Total)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Statements returns a period's statements: stored ones when closed, a
// live preview when open. accounts, when not nil, limits which.
func (s *Store) Statements(ctx context.Context, name string, accounts []string, rule billing.Rounding) (PeriodStatements, error) {
	p, err := s.Period(ctx, name)
	if err != nil {
		return PeriodStatements{}, err
	}
	ps := PeriodStatements{Period: p}
	if p.Status == "closed" {
		ps.Statements, err = s.stored(ctx, p, accounts)
	} else {
		var digits map[string]int
		if digits, err = s.currencyDigits(ctx); err != nil {
			return ps, err
		}
		ps.Statements, err = preview(ctx, s.pool, p, accounts, rule, digits)
	}
	for _, st := range ps.Statements {
		ps.Total += st.Total
		ps.Currency = st.Currency
	}
	return ps, err
}

func (s *Store) stored(ctx context.Context, p Period, accounts []string) ([]Statement, error) {
	args := []any{p.ID}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND s.account = ANY($2)"
	}
	rows, err := s.pool.Query(ctx, `SELECT s.number, s.account, s.currency, s.jobs, s.total_micros, s.sha256, l.component, l.jobs, l.exact_micros, l.amount_micros
		FROM statements s JOIN statement_lines l ON l.statement_id = s.id
		WHERE s.period_id = $1`+cond+` ORDER BY s.account, l.component`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		var st Statement
		var l billing.StatementLine
		var total, exact, amount int64
		if err := rows.Scan(&st.Number, &st.Account, &st.Currency, &st.Jobs, &total, &st.SHA256, &l.Component, &l.Jobs, &exact, &amount); err != nil {
			return nil, err
		}
		l.Account, l.Exact, l.Amount = st.Account, billing.Micros(exact), billing.Micros(amount)
		if len(out) == 0 || out[len(out)-1].Account != st.Account {
			st.Total = billing.Micros(total)
			out = append(out, st)
		}
		out[len(out)-1].Lines = append(out[len(out)-1].Lines, l)
	}
	return out, rows.Err()
}

// ClosePeriod takes the period's snapshot in one transaction: statements
// numbered without gaps and hashed, then the period closed. After this the
// database refuses to change the period, its charges and its statements.
func (s *Store) ClosePeriod(ctx context.Context, name, by string, rule billing.Rounding) (PeriodStatements, error) {
	var ps PeriodStatements
	digits, err := s.currencyDigits(ctx)
	if err != nil {
		return ps, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var p Period
		err := tx.QueryRow(ctx, `SELECT id, name, starts_at, ends_at, status FROM billing_periods WHERE name = $1 FOR UPDATE`, name).
			Scan(&p.ID, &p.Name, &p.Starts, &p.Ends, &p.Status)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFoundf("no billing period %q", name)
		}
		if err != nil {
			return err
		}
		if p.Status == "closed" {
			return billing.Conflictf("billing period %s is already closed", name)
		}
		if time.Now().Before(p.Ends) {
			return billing.Conflictf("billing period %s has not ended yet (it ends %s)", name, p.Ends.UTC().Format("2006-01-02 15:04 UTC"))
		}
		sts, err := preview(ctx, tx, p, nil, rule, digits)
		if err != nil {
			return err
		}
		for i := range sts {
			st := &sts[i]
			st.Number = fmt.Sprintf("%s-%04d", p.Name, i+1)
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO statements (period_id, number, account, currency, jobs, total_micros, sha256)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, p.ID, st.Number, st.Account, st.Currency, st.Jobs, int64(st.Total), st.SHA256).Scan(&id); err != nil {
				return err
			}
			for _, l := range st.Lines {
				if _, err := tx.Exec(ctx, `INSERT INTO statement_lines (statement_id, component, jobs, exact_micros, amount_micros) VALUES ($1, $2, $3, $4, $5)`,
					id, l.Component, l.Jobs, int64(l.Exact), int64(l.Amount)); err != nil {
					return err
				}
			}
			ps.Total += st.Total
			ps.Currency = st.Currency
		}
		if _, err := tx.Exec(ctx, `INSERT INTO statement_users (period_id, account, username, jobs, exact_micros)
			SELECT $1, account, username, count(DISTINCT job_row), sum(total_micros) FROM job_charges WHERE period_id = $1 GROUP BY 2, 3`, p.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = $2 WHERE id = $1`, p.ID, by); err != nil {
			return err
		}
		p.Status = "closed"
		ps.Period, ps.Statements = p, sts
		return nil
	})
	return ps, err
}

// PeriodSummary is one row of the periods list.
type PeriodSummary struct {
	Period
	Jobs  int64
	Total billing.Micros
}

// PeriodSummaries lists periods, newest first, with their charges.
func (s *Store) PeriodSummaries(ctx context.Context, accounts []string) ([]PeriodSummary, error) {
	args := []any{}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND c.account = ANY($1)"
	}
	return s.periodSummaries(ctx, cond, args)
}

// UserPeriodSummaries lists periods with one person's charges: as frozen
// at the close for closed periods, from the daily usage rollup for open
// ones (by job end, as the dashboard counts them).
func (s *Store) UserPeriodSummaries(ctx context.Context, user string) ([]PeriodSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.id, p.name, p.starts_at, p.ends_at, p.status, p.closed_at, p.closed_by, t.jobs, t.total
		FROM billing_periods p, LATERAL (
			SELECT coalesce(sum(su.jobs), 0)::bigint AS jobs, coalesce(sum(su.exact_micros), 0)::bigint AS total
			FROM statement_users su WHERE p.status = 'closed' AND su.period_id = p.id AND su.username = $1
			UNION ALL
			SELECT coalesce(sum(u.jobs), 0)::bigint, coalesce(sum(u.total_micros), 0)::bigint
			FROM usage_daily u WHERE p.status = 'open' AND u.username = $1
			  AND u.day >= (p.starts_at AT TIME ZONE 'UTC')::date AND u.day < (p.ends_at AT TIME ZONE 'UTC')::date
			ORDER BY 1 DESC LIMIT 1) t -- of the two rows, the branch that applies (the other counts nothing)
		ORDER BY p.starts_at DESC`, user)
	return scanPeriodSummaries(rows, err)
}

func (s *Store) periodSummaries(ctx context.Context, cond string, args []any) ([]PeriodSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.id, p.name, p.starts_at, p.ends_at, p.status, p.closed_at, p.closed_by,
			count(DISTINCT c.job_row), coalesce(sum(c.total_micros), 0)::bigint
		FROM billing_periods p LEFT JOIN job_charges c ON c.period_id = p.id`+cond+`
		GROUP BY p.id ORDER BY p.starts_at DESC`, args...)
	return scanPeriodSummaries(rows, err)
}

// scanPeriodSummaries reads rows of period columns, jobs and total.
func scanPeriodSummaries(rows pgx.Rows, err error) ([]PeriodSummary, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PeriodSummary
	for rows.Next() {
		var ps PeriodSummary
		var total int64
		if err := rows.Scan(&ps.ID, &ps.Name, &ps.Starts, &ps.Ends, &ps.Status, &ps.ClosedAt, &ps.ClosedBy, &ps.Jobs, &total); err != nil {
			return nil, err
		}
		ps.Total = billing.Micros(total)
		out = append(out, ps)
	}
	return out, rows.Err()
}

// PeriodBreakdown is a period's charges grouped one way, with usage.
type PeriodBreakdown struct {
	Key       string
	Jobs      int64
	CoreHours string
	GPUHours  string
	Total     billing.Micros
}

// Breakdown groups a period's charges by "user", "partition" or "qos",
// for accounts (nil: all).
func (s *Store) Breakdown(ctx context.Context, name, by string, accounts []string) ([]PeriodBreakdown, error) {
	col := map[string]string{"user": "c.username", "partition": "j.partition", "qos": "j.qos"}[by]
	if col == "" {
		return nil, billing.Invalidf("break down by user, partition or qos")
	}
	args := []any{name}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND c.account = ANY($2)"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+col+`, count(DISTINCT c.job_row),
			coalesce(sum(j.req_cpu * j.elapsed_seconds), 0)::bigint, coalesce(sum(j.req_gpu * j.elapsed_seconds), 0)::bigint,
			coalesce(sum(c.total_micros), 0)::bigint
		FROM job_charges c JOIN jobs j ON j.id = c.job_row JOIN billing_periods p ON p.id = c.period_id
		WHERE p.name = $1`+cond+` GROUP BY 1 ORDER BY 5 DESC, 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PeriodBreakdown
	for rows.Next() {
		var b PeriodBreakdown
		var core, gpu, total int64
		if err := rows.Scan(&b.Key, &b.Jobs, &core, &gpu, &total); err != nil {
			return nil, err
		}
		b.CoreHours, b.GPUHours, b.Total = hours(core), hours(gpu), billing.Micros(total)
		out = append(out, b)
	}
	return out, rows.Err()
}

// AddPeriod creates a period with any range (a quarter, a fiscal year);
// the database refuses one that overlaps another.
func (s *Store) AddPeriod(ctx context.Context, name string, from, to time.Time) error {
	if strings.TrimSpace(name) == "" {
		return billing.Invalidf("give the period a name")
	}
	if !to.After(from) {
		return billing.Invalidf("the period must end after it starts")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3)`, name, from, to)
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
func (s *Store) EnsureQuarters(ctx context.Context, from, to time.Time) error {
	q := time.Date(from.Year(), time.Month((int(from.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	for ; q.Before(to); q = q.AddDate(0, 3, 0) {
		if _, err := s.pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			fmt.Sprintf("%d-Q%d", q.Year(), (int(q.Month())-1)/3+1), q, q.AddDate(0, 3, 0)); err != nil {
			return err
		}
	}
	return nil
}

// PreviewChange is how an account's total moved since the last preview.
type PreviewChange struct {
	Account string
	Before  billing.Micros
	Now     billing.Micros
}

// RecordPreview stores this preview's per-account totals and returns the
// accounts whose totals changed since the previous one, and when that was.
func (s *Store) RecordPreview(ctx context.Context, ps PeriodStatements, actor string) ([]PreviewChange, *time.Time, error) {
	now := map[string]int64{}
	for _, st := range ps.Statements {
		now[st.Account] = int64(st.Total)
	}
	var prevJSON []byte
	var prevAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT totals, at FROM period_previews WHERE period_id = $1 ORDER BY id DESC LIMIT 1`, ps.Period.ID).Scan(&prevJSON, &prevAt)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, err
	}
	b, _ := json.Marshal(now)
	if _, err := s.pool.Exec(ctx, `INSERT INTO period_previews (period_id, actor, totals) VALUES ($1, $2, $3)`, ps.Period.ID, actor, b); err != nil {
		return nil, nil, err
	}
	if prevJSON == nil {
		return nil, nil, nil
	}
	prev := map[string]int64{}
	_ = json.Unmarshal(prevJSON, &prev)
	var out []PreviewChange
	for a, v := range now {
		if prev[a] != v {
			out = append(out, PreviewChange{Account: a, Before: billing.Micros(prev[a]), Now: billing.Micros(v)})
		}
	}
	for a, v := range prev {
		if _, ok := now[a]; !ok {
			out = append(out, PreviewChange{Account: a, Before: billing.Micros(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, prevAt, nil
}

// UserStatement is one person's charges in a period, per account and
// component, each line rounded once.
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
func (s *Store) UserStatement(ctx context.Context, name, user string, accounts []string, rule billing.Rounding) (UserStatement, error) {
	p, err := s.Period(ctx, name)
	if err != nil {
		return UserStatement{}, err
	}
	us := UserStatement{Period: p, User: user}
	digits, err := s.currencyDigits(ctx)
	if err != nil {
		return us, err
	}
	args := []any{p.ID, user}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND c.account = ANY($3)"
	}
	rows, err := s.pool.Query(ctx, `SELECT c.account, max(c.currency), l->>0, count(DISTINCT c.job_row), sum((l->>7)::bigint)::bigint
		FROM job_charges c, json_array_elements(c.lines) l
		WHERE c.period_id = $1 AND c.username = $2`+cond+` GROUP BY 1, 3 ORDER BY 1, 3`, args...)
	if err != nil {
		return us, err
	}
	for rows.Next() {
		var l billing.StatementLine
		var currency string
		var exact int64
		if err := rows.Scan(&l.Account, &currency, &l.Component, &l.Jobs, &exact); err != nil {
			rows.Close()
			return us, err
		}
		l.Exact = billing.Micros(exact)
		l.Amount = rule.ToMinor(l.Exact, minorDigits(digits, currency))
		us.Lines = append(us.Lines, l)
		us.Total += l.Amount
		us.Currency = currency
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return us, err
	}
	var core, gpu int64
	err = s.pool.QueryRow(ctx, `SELECT count(DISTINCT c.job_row), coalesce(sum(j.req_cpu * j.elapsed_seconds), 0)::bigint,
			coalesce(sum(j.req_gpu * j.elapsed_seconds), 0)::bigint
		FROM job_charges c JOIN jobs j ON j.id = c.job_row WHERE c.period_id = $1 AND c.username = $2`+cond, args...).Scan(&us.Jobs, &core, &gpu)
	us.CoreHours, us.GPUHours = hours(core), hours(gpu)
	return us, err
}
