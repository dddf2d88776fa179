package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// Scope limits what a query may return: the caller's authorisation,
// applied inside the SQL so no other person's rows ever leave the database.
type Scope struct {
	All      bool     // admins and finance
	User     string   // the viewer's own jobs
	Accounts []string // accounts the viewer coordinates
}

// where renders the scope as a condition on the jobs alias j, appending
// its arguments.
func (sc Scope) where(args *[]any) string {
	if sc.All {
		return "TRUE"
	}
	*args = append(*args, sc.User)
	cond := fmt.Sprintf("j.username = $%d", len(*args))
	if len(sc.Accounts) > 0 {
		*args = append(*args, sc.Accounts)
		cond = fmt.Sprintf("(%s OR j.account = ANY($%d))", cond, len(*args))
	}
	return cond
}

// JobFilter narrows a job list within a scope.
type JobFilter struct {
	User      string
	Account   string
	Partition string
	QOS       string
	State     string
	Search    string    // a job id, or part of a job name
	From      time.Time // end time, inclusive
	To        time.Time // end time, exclusive
	Sort      string    // end, cost, elapsed, cpus, efficiency, job
	Desc      bool
	Limit     int
	Offset    int
}

// JobRow is one line of a job list.
type JobRow struct {
	Row            int64
	Cluster        string
	JobID          int64
	ArrayJobID     int64
	ArrayTaskID    *int64
	Name           string
	User           string
	Account        string
	Partition      string
	QOS            string
	State          string
	Submit         time.Time
	Start          *time.Time
	End            *time.Time
	ElapsedSeconds int64
	CPUs           int64
	MemMiB         int64
	GPUs           int64
	CPUTimeMicros  int64
	Total          *billing.Micros // nil: not rated yet
	EfficiencyPPM  *int64
	Currency       string
}

// sortColumn maps a sort name to its column: only these may be sorted by.
func sortColumn(name string) (string, bool) {
	switch name {
	case "end":
		return "j.end_time", true
	case "cost":
		return "total", true
	case "elapsed":
		return "j.elapsed_seconds", true
	case "cpus":
		return "j.req_cpu", true
	case "efficiency":
		return "eff", true
	case "job":
		return "j.job_id", true
	case "user":
		return "j.username", true
	case "account":
		return "j.account", true
	}
	return "", false
}

// Jobs lists jobs in scope with their charges, one page at a time.
func (s *Store) Jobs(ctx context.Context, sc Scope, f JobFilter) ([]JobRow, error) {
	args := []any{}
	conds := []string{sc.where(&args)}
	if f.User != "" {
		args = append(args, f.User)
		conds = append(conds, fmt.Sprintf("j.username = $%d", len(args)))
	}
	if f.Account != "" {
		args = append(args, f.Account)
		conds = append(conds, fmt.Sprintf("j.account = $%d", len(args)))
	}
	for _, c := range []struct{ col, val string }{{"j.partition", f.Partition}, {"j.qos", f.QOS}, {"j.state", f.State}} {
		if c.val != "" {
			args = append(args, c.val)
			conds = append(conds, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if f.Search != "" {
		if id, err := strconv.ParseInt(strings.TrimSpace(f.Search), 10, 64); err == nil {
			args = append(args, id)
			conds = append(conds, fmt.Sprintf("(j.job_id = $%d OR j.array_job_id = $%d)", len(args), len(args)))
		} else {
			args = append(args, "%"+strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Search)+"%")
			conds = append(conds, fmt.Sprintf("j.name ILIKE $%d", len(args)))
		}
	}
	if !f.From.IsZero() {
		args = append(args, f.From)
		conds = append(conds, fmt.Sprintf("coalesce(j.end_time, j.submit_time) >= $%d", len(args)))
	}
	if !f.To.IsZero() {
		args = append(args, f.To)
		conds = append(conds, fmt.Sprintf("coalesce(j.end_time, j.submit_time) < $%d", len(args)))
	}
	col, ok := sortColumn(f.Sort)
	if !ok {
		col = "j.end_time"
	}
	dir := "ASC"
	if f.Desc {
		dir = "DESC"
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	args = append(args, f.Limit, f.Offset)
	q := `SELECT j.id, j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.name, j.username, j.account, j.partition, j.qos,
			j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.req_cpu, j.req_mem_mib, j.req_gpu, j.cpu_time_us,
			c.total, c.eff, c.currency
		FROM jobs j
		LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, max(efficiency_ppm) AS eff, max(currency) AS currency
		                   FROM job_charges WHERE job_row = j.id) c ON true
		WHERE ` + strings.Join(conds, " AND ") + `
		ORDER BY ` + col + ` ` + dir + ` NULLS LAST, j.id ` + dir + `
		LIMIT $` + fmt.Sprint(len(args)-1) + ` OFFSET $` + fmt.Sprint(len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobRow
	for rows.Next() {
		var r JobRow
		var total *int64
		var currency *string
		if err := rows.Scan(&r.Row, &r.Cluster, &r.JobID, &r.ArrayJobID, &r.ArrayTaskID, &r.Name, &r.User, &r.Account, &r.Partition,
			&r.QOS, &r.State, &r.Submit, &r.Start, &r.End, &r.ElapsedSeconds, &r.CPUs, &r.MemMiB, &r.GPUs, &r.CPUTimeMicros,
			&total, &r.EfficiencyPPM, &currency); err != nil {
			return nil, err
		}
		if total != nil {
			m := billing.Micros(*total)
			r.Total = &m
		}
		if currency != nil {
			r.Currency = *currency
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Receipt is one job with its charges.
type Receipt struct {
	Job      JobRow
	Reason   string
	Steps    int
	StepList []ReceiptStep
	Eligible *time.Time
	Charges  []ReceiptCharge
}

// ReceiptStep is one job step as the jobs table keeps it.
type ReceiptStep struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	State          string `json:"state"`
	ExitCode       *int   `json:"exit_code"`
	ElapsedSeconds int64  `json:"elapsed"`
	CPUTimeMicros  int64  `json:"cpu_us"`
	Tasks          int64  `json:"tasks"`
	Nodes          string `json:"nodes"`
}

// ReceiptCharge is one stored charge (one period's portion).
type ReceiptCharge struct {
	Period        string
	PeriodStatus  string
	PortionStart  time.Time
	PortionEnd    time.Time
	RateCard      string
	Total         billing.Micros
	Idle          billing.Micros
	EfficiencyPPM *int64
	NotCharged    string
	AccountReason string
	Lines         []billing.Line
}

// ErrNotVisible hides whether a job exists when the viewer may not see it.
var ErrNotVisible = billing.NotFoundf("no such job")

// Receipt returns a job's receipt if it is in scope.
func (s *Store) Receipt(ctx context.Context, sc Scope, row int64) (Receipt, error) {
	args := []any{row}
	cond := sc.where(&args)
	var rc Receipt
	r := &rc.Job
	var total *int64
	var currency *string
	var stepsJSON []byte
	err := s.pool.QueryRow(ctx, `SELECT j.id, j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.name, j.username, j.account,
			j.partition, j.qos, j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.req_cpu, j.req_mem_mib,
			j.req_gpu, j.cpu_time_us, j.reason, j.step_count, j.steps, j.eligible_time,
			(SELECT sum(total_micros) FROM job_charges WHERE job_row = j.id), (SELECT max(currency) FROM job_charges WHERE job_row = j.id)
		FROM jobs j WHERE j.id = $1 AND `+cond, args...).Scan(&r.Row, &r.Cluster, &r.JobID, &r.ArrayJobID, &r.ArrayTaskID,
		&r.Name, &r.User, &r.Account, &r.Partition, &r.QOS, &r.State, &r.Submit, &r.Start, &r.End, &r.ElapsedSeconds, &r.CPUs,
		&r.MemMiB, &r.GPUs, &r.CPUTimeMicros, &rc.Reason, &rc.Steps, &stepsJSON, &rc.Eligible, &total, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return rc, ErrNotVisible
	}
	if err != nil {
		return rc, err
	}
	if total != nil {
		m := billing.Micros(*total)
		r.Total = &m
	}
	if currency != nil {
		r.Currency = *currency
	}
	if len(stepsJSON) > 2 {
		if err := json.Unmarshal(stepsJSON, &rc.StepList); err != nil {
			return rc, fmt.Errorf("steps of job row %d: %w", row, err)
		}
	}
	crow, err := s.pool.Query(ctx, `SELECT coalesce(p.name, ''), coalesce(p.status, ''), c.portion_start, c.portion_end,
			coalesce(rc.name || ' v' || rc.version, ''), c.total_micros, c.idle_micros, c.efficiency_ppm, c.not_charged, c.account_reason, c.lines
		FROM job_charges c
		LEFT JOIN billing_periods p ON p.id = c.period_id
		LEFT JOIN rate_cards rc ON rc.id = c.rate_card_id
		WHERE c.job_row = $1 ORDER BY c.portion_start`, row)
	if err != nil {
		return rc, err
	}
	defer crow.Close()
	for crow.Next() {
		var ch ReceiptCharge
		var total, idle int64
		var lines []byte
		if err := crow.Scan(&ch.Period, &ch.PeriodStatus, &ch.PortionStart, &ch.PortionEnd, &ch.RateCard, &total, &idle,
			&ch.EfficiencyPPM, &ch.NotCharged, &ch.AccountReason, &lines); err != nil {
			return rc, err
		}
		ch.Total, ch.Idle = billing.Micros(total), billing.Micros(idle)
		if ch.Lines, err = billing.ParseLines(lines); err != nil {
			return rc, fmt.Errorf("charge lines of job row %d: %w", row, err)
		}
		rc.Charges = append(rc.Charges, ch)
	}
	return rc, crow.Err()
}

// endedIn is the condition for jobs in scope that ended in [f.From, f.To),
// optionally of one user and account, with its arguments.
func endedIn(sc Scope, f JobFilter) (string, []any) {
	args := []any{f.From, f.To}
	conds := []string{sc.where(&args), "j.end_time >= $1", "j.end_time < $2"}
	if f.User != "" {
		args = append(args, f.User)
		conds = append(conds, fmt.Sprintf("j.username = $%d", len(args)))
	}
	if f.Account != "" {
		args = append(args, f.Account)
		conds = append(conds, fmt.Sprintf("j.account = $%d", len(args)))
	}
	return strings.Join(conds, " AND "), args
}

// Summary adds up usage in scope over a time range.
type Summary struct {
	Jobs          int64
	CoreHours     string
	GPUHours      string
	Total         billing.Micros
	Idle          billing.Micros
	EfficiencyPPM int64
	Currency      string
}

// Summarize totals jobs that ended in [from, to) within scope.
func (s *Store) Summarize(ctx context.Context, sc Scope, f JobFilter) (Summary, error) {
	where, args := endedIn(sc, f)
	var sum Summary
	var coreSec, gpuSec, cpuUs, reserved int64
	var currency *string
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(j.req_cpu * j.elapsed_seconds), 0)::bigint,
			coalesce(sum(j.req_gpu * j.elapsed_seconds), 0)::bigint, coalesce(sum(c.total), 0)::bigint, coalesce(sum(c.idle), 0)::bigint,
			coalesce(sum(j.cpu_time_us), 0)::bigint, coalesce(sum(j.req_cpu * j.elapsed_seconds), 0)::bigint, max(c.currency)
		FROM jobs j LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, sum(idle_micros) AS idle, max(currency) AS currency
		                               FROM job_charges WHERE job_row = j.id) c ON true
		WHERE `+where, args...).Scan(&sum.Jobs, &coreSec, &gpuSec, &sum.Total, &sum.Idle, &cpuUs, &reserved, &currency)
	if err != nil {
		return sum, err
	}
	sum.CoreHours = hours(coreSec)
	sum.GPUHours = hours(gpuSec)
	if reserved > 0 {
		sum.EfficiencyPPM = cpuUs / reserved
	}
	if currency != nil {
		sum.Currency = *currency
	}
	return sum, nil
}

// hours prints seconds as hours with two decimals, rounded half-up.
func hours(sec int64) string {
	c := (sec*100 + 1800) / 3600
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// DayCost is one day's charges, for charts.
type DayCost struct {
	Day   time.Time
	Total billing.Micros
	Jobs  int64
}

// DailyCosts returns charges per day (by job end) in [from, to).
func (s *Store) DailyCosts(ctx context.Context, sc Scope, f JobFilter) ([]DayCost, error) {
	where, args := endedIn(sc, f)
	rows, err := s.pool.Query(ctx, `SELECT date_trunc('day', j.end_time AT TIME ZONE 'UTC') AS day, coalesce(sum(c.total_micros), 0)::bigint, count(DISTINCT j.id)
		FROM jobs j LEFT JOIN job_charges c ON c.job_row = j.id
		WHERE `+where+` GROUP BY 1 ORDER BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DayCost
	for rows.Next() {
		var d DayCost
		var total int64
		if err := rows.Scan(&d.Day, &total, &d.Jobs); err != nil {
			return nil, err
		}
		d.Total = billing.Micros(total)
		out = append(out, d)
	}
	return out, rows.Err()
}

// AccountTotals is one account's or user's figures over a range.
type AccountTotals struct {
	Name  string
	Jobs  int64
	Total billing.Micros
}

// TotalsBy groups charges of jobs ended in [from, to) by "account",
// "user" or "partition".
func (s *Store) TotalsBy(ctx context.Context, sc Scope, by string, f JobFilter) ([]AccountTotals, error) {
	col := "j.account"
	switch by {
	case "user":
		col = "j.username"
	case "partition":
		col = "j.partition"
	}
	where, args := endedIn(sc, f)
	rows, err := s.pool.Query(ctx, `SELECT `+col+`, count(DISTINCT j.id), coalesce(sum(c.total_micros), 0)::bigint
		FROM jobs j LEFT JOIN job_charges c ON c.job_row = j.id
		WHERE `+where+` GROUP BY 1 ORDER BY 3 DESC, 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountTotals
	for rows.Next() {
		var a AccountTotals
		var total int64
		if err := rows.Scan(&a.Name, &a.Jobs, &total); err != nil {
			return nil, err
		}
		a.Total = billing.Micros(total)
		out = append(out, a)
	}
	return out, rows.Err()
}
