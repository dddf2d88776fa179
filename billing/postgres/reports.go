package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm"
)

// Scope limits what a query may return: the caller's authorisation,
// applied inside the SQL so no other person's rows ever leave the database.
type Scope struct {
	All      bool     // admins and finance
	User     string   // the viewer's own jobs
	Accounts []string // accounts the viewer coordinates
	// Cluster narrows everything to one cluster's jobs ("": every cluster).
	Cluster string
}

// where renders the scope as a condition on the jobs alias j, appending
// its arguments.
func (sc Scope) where(args *[]any) string {
	cond := "TRUE"
	if !sc.All {
		*args = append(*args, sc.User)
		cond = fmt.Sprintf("j.username = $%d", len(*args))
		if len(sc.Accounts) > 0 {
			*args = append(*args, sc.Accounts)
			cond = fmt.Sprintf("(%s OR j.account = ANY($%d))", cond, len(*args))
		}
	}
	if sc.Cluster != "" {
		*args = append(*args, sc.Cluster)
		cond = fmt.Sprintf("%s AND j.cluster = $%d", cond, len(*args))
	}
	return cond
}

// JobFilter narrows a job list within a scope.
type JobFilter struct {
	Cluster   string
	User      string
	Account   string
	Partition string
	QOS       string
	State     string
	Search    string    // a job id, or part of a job name
	Unrated   bool      // only ended jobs with no charge (the period page's "unrated" anomaly)
	Wasteful  bool      // only jobs billing.Waste() flags
	From      time.Time // end time, inclusive
	To        time.Time // end time, exclusive
	Sort      string    // end, cost, elapsed, cpus, gpus, efficiency, job, name, user, account, partition, state
	Desc      bool
	Limit     int
	// Keyset pagination: at most one of After and Before. A page is found
	// by where it starts, not by counting rows, so page 2,000 of a long
	// list costs what page 1 costs.
	After  *Cursor
	Before *Cursor
}

// sortColumn maps a sort name to its column and SQL type: only these may
// be sorted by.
func sortColumn(name string) (col, typ string, ok bool) {
	switch name {
	case "end":
		return "j.end_time", "timestamptz", true
	case "cost":
		return "c.total", "numeric", true
	case "elapsed":
		return "j.elapsed_seconds", "bigint", true
	case "cpus":
		return "j.req_cpu", "bigint", true
	case "efficiency":
		return "c.eff", "bigint", true
	case "job":
		return "j.job_id", "bigint", true
	case "user":
		return "j.username", "text", true
	case "account":
		return "j.account", "text", true
	case "name":
		return "j.name", "text", true
	case "partition":
		return "j.partition", "text", true
	case "state":
		return "j.state", "text", true
	case "gpus":
		return "j.req_gpu", "bigint", true
	}
	return "", "", false
}

// SortKnown says whether a job list can be sorted by name.
func SortKnown(name string) bool {
	_, _, ok := sortColumn(name)
	return ok
}

// filterConds renders the scope and filter (without sorting or paging) as
// conditions on the jobs alias j, appending their arguments.
func filterConds(sc Scope, f JobFilter, args *[]any) []string {
	conds := []string{sc.where(args)}
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(*args))))
	}
	if f.Cluster != "" {
		add("j.cluster = $?", f.Cluster)
	}
	if f.User != "" {
		add("j.username = $?", f.User)
	}
	if f.Account != "" {
		add("j.account = $?", f.Account)
	}
	if f.Partition != "" {
		add("j.partition = $?", f.Partition)
	}
	if f.QOS != "" {
		add("j.qos = $?", f.QOS)
	}
	if f.State != "" {
		add("j.state = $?", f.State)
	}
	if f.Unrated {
		conds = append(conds, "j.end_time IS NOT NULL AND NOT EXISTS (SELECT 1 FROM job_charges uc WHERE uc.job_row = j.id AND uc.job_submit = j.submit_time)")
	}
	if f.Search != "" {
		if ref, ok := slurm.ParseJobRef(f.Search); ok && !ref.IsTask {
			// A job, or every task of an array job.
			add("(j.job_id = $? OR j.array_job_id = $?)", ref.ID)
		} else if ok {
			// Slurm's own name of an array task: 55387_3.
			add("j.array_job_id = $? AND j.array_job_id <> 0", ref.ID) // <> 0: jobs_array_task_idx
			add("j.array_task_id = $?", ref.Task)
		} else {
			add("j.name ILIKE $?", "%"+strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Search)+"%")
		}
	}
	if f.Wasteful {
		// billing.WasteRule.Wasteful in SQL, with the rule's own figures:
		// a job's efficiency and its charges summed, as the list shows them.
		w := billing.Waste()
		// The jobs the rule flags are kept in wasteful_jobs as charges
		// are written (migration 00022); reading the candidates there
		// spares summing the charges of every other job of the scope.
		conds = append(conds, "EXISTS (SELECT 1 FROM wasteful_jobs wj WHERE wj.job_row = j.id AND wj.job_submit = j.submit_time)")
		add(chargeEff+" BETWEEN 0 AND $? - 1", w.BelowPPM)
		add(chargeTotal+" >= $?", int64(w.MinCost))
	}
	// Ended jobs by end time, running ones by submit time; written so the
	// end-time indexes serve it.
	if !f.From.IsZero() {
		add("(j.end_time >= $? OR (j.end_time IS NULL AND j.submit_time >= $?))", f.From)
	}
	if !f.To.IsZero() {
		add("(j.end_time < $? OR (j.end_time IS NULL AND j.submit_time < $?))", f.To)
	}
	return conds
}

// chargeEff and chargeTotal stand, in filterConds' conditions, for a job's
// efficiency and its charges summed; chargesFrom says where they are read.
const (
	chargeEff   = "{charge.eff}"
	chargeTotal = "{charge.total}"
)

// chargesJoin is a job's charges as the lists show them, summed over its
// portions, as c: the alias chargesFrom's joined conditions read.
const chargesJoin = `LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, max(efficiency_ppm) AS eff, max(currency) AS currency
	FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time) c ON true`

// chargesFrom fills in chargeEff and chargeTotal: from the charges joined
// as c (lateral) where the query has them for every row it filters, which
// saves two lookups a row (the account page's wasteful jobs, sorted by
// cost, read 9,000 jobs' charges three times: 40 ms); otherwise by a
// lookup of their own, so a list read in end-time order can stop at its
// page.
func chargesFrom(conds []string, joined bool) []string {
	eff, total := "c.eff", "c.total"
	if !joined {
		eff = "(SELECT max(efficiency_ppm) FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time)"
		total = "(SELECT sum(total_micros) FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time)"
	}
	r := strings.NewReplacer(chargeEff, eff, chargeTotal, total)
	out := make([]string, len(conds))
	for i, c := range conds {
		out[i] = r.Replace(c)
	}
	return out
}

// Jobs lists jobs in scope with their charges, one page at a time. Rows
// with no value in the sort column (running jobs have no end) come last.
func (s *ReportStore) Jobs(ctx context.Context, sc Scope, f JobFilter) (_ []JobRow, err error) {
	defer annotate(&err, "listing jobs")
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 50
	}
	var out []JobRow
	err = s.eachJob(ctx, sc, f, func(r JobRow) error { out = append(out, r); return nil })
	if f.Before != nil {
		slices.Reverse(out)
	}
	return out, err
}

// EachJob streams every job the filter matches, in its sort order, from
// one query: exports use it, so a long list is read once and never held.
func (s *ReportStore) EachJob(ctx context.Context, sc Scope, f JobFilter, fn func(JobRow) error) (err error) {
	defer annotate(&err, "reading jobs")
	f.Limit, f.Before = 0, nil
	return s.eachJob(ctx, sc, f, fn)
}

// eachJob runs the list query; f.Limit 0 means every row.
func (s *ReportStore) eachJob(ctx context.Context, sc Scope, f JobFilter, fn func(JobRow) error) error {
	args := []any{}
	col, typ, ok := sortColumn(f.Sort)
	if !ok {
		col, typ = "j.end_time", "timestamptz"
	}
	conds := chargesFrom(filterConds(sc, f, &args), strings.HasPrefix(col, "c."))
	// A cursor whose value does not fit the column (an edited link) is no
	// cursor: the list starts at its first page.
	if f.After != nil && !f.After.fits(typ) {
		f.After = nil
	}
	if f.Before != nil && !f.Before.fits(typ) {
		f.Before = nil
	}
	// Going backwards (Before) reads the list in reverse and turns the
	// page round afterwards.
	desc := f.Desc
	if f.Before != nil {
		desc = !desc
	}
	dir, nulls, beyond := "ASC", "NULLS LAST", ">"
	if desc {
		dir, beyond = "DESC", "<"
	}
	if f.Before != nil {
		nulls = "NULLS FIRST"
	}
	// Forwards from a row with a value, the rows to come are those past it
	// and then those without a value. The two are read apart (see below),
	// so the row comparison starts the index scan at the cursor instead of
	// filtering every row before it.
	var past, valueless []string
	if f.After != nil && !f.After.Null && !strings.HasPrefix(col, "c.") {
		past = append(slices.Clone(conds), keyset(col, typ, beyond, f.After, false, &args))
		valueless = append(slices.Clone(conds), col+" IS NULL")
	} else if f.After != nil {
		conds = append(conds, keyset(col, typ, beyond, f.After, true, &args))
	} else if f.Before != nil {
		conds = append(conds, keyset(col, typ, beyond, f.Before, false, &args))
	}
	limit := ""
	if f.Limit > 0 {
		args = append(args, f.Limit)
		limit = ` LIMIT $` + fmt.Sprint(len(args))
	}
	const columns = `j.id, j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.name, j.username, j.account, j.partition, j.qos,
			j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.req_cpu, j.req_mem_mib, j.req_gpu, j.cpu_time_us,
			c.total, c.eff, c.currency`
	order := ` ORDER BY ` + col + ` ` + dir + ` ` + nulls + `, j.id ` + dir
	var q string
	if strings.HasPrefix(col, "c.") {
		// Sorting by cost or efficiency needs every matching job's charges.
		q = `SELECT ` + columns + ` FROM jobs j ` + chargesJoin + ` WHERE ` + strings.Join(conds, " AND ") + order + limit
	} else {
		// The page is chosen from jobs alone; charges are looked up for
		// its rows only, not for every job that matches.
		page := `SELECT * FROM jobs j WHERE ` + strings.Join(conds, " AND ") + order + limit
		if past != nil {
			page = `SELECT * FROM ((SELECT * FROM jobs j WHERE ` + strings.Join(past, " AND ") + order + limit + `)
				UNION ALL (SELECT * FROM jobs j WHERE ` + strings.Join(valueless, " AND ") + order + limit + `)) j` + order + limit
		}
		q = `SELECT ` + columns + ` FROM (` + page + `) j ` + chargesJoin + order
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r JobRow
		var total *int64
		var currency *string
		if err := rows.Scan(&r.Row, &r.Cluster, &r.JobID, &r.ArrayJobID, &r.ArrayTaskID, &r.Name, &r.User, &r.Account, &r.Partition,
			&r.QOS, &r.State, &r.Submit, &r.Start, &r.End, &r.ElapsedSeconds, &r.CPUs, &r.MemMiB, &r.GPUs, &r.CPUTimeMicros,
			&total, &r.EfficiencyPPM, &currency); err != nil {
			return err
		}
		if total != nil {
			m := billing.Micros(*total)
			r.Total = &m
		}
		if currency != nil {
			r.Currency = *currency
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// keyset is the condition for the rows past cur in the direction the list
// is read (beyond is < or >), appending its arguments. Rows without a value
// in the sort column come last in the list: ahead of every valued row when
// reading forwards (nullsAhead), behind it when reading backwards.
func keyset(col, typ, beyond string, cur *Cursor, nullsAhead bool, args *[]any) string {
	*args = append(*args, cur.Row)
	id := fmt.Sprintf("$%d", len(*args))
	if cur.Null {
		if nullsAhead {
			return fmt.Sprintf("(%s IS NULL AND j.id %s %s)", col, beyond, id)
		}
		return fmt.Sprintf("(%s IS NOT NULL OR j.id %s %s)", col, beyond, id)
	}
	*args = append(*args, cur.Value)
	v := fmt.Sprintf("$%d::%s", len(*args), typ)
	// A row comparison, past (value, id) in one step: ties on the value
	// are ordered by id, so no row is skipped or shown twice at a page's
	// edge, and PostgreSQL can start an index scan at the cursor.
	cond := fmt.Sprintf("(%[1]s, j.id) %[2]s (%[3]s, %[4]s)", col, beyond, v, id)
	if nullsAhead {
		cond += " OR " + col + " IS NULL"
	}
	return "(" + cond + ")"
}

// JobTotals adds up every job the filter matches (ignoring paging).
type JobTotals struct {
	Jobs      int64
	CoreHours string
	GPUHours  string
	Total     billing.Micros
	Currency  string
}

// Totals sums the jobs a list shows, across all of its pages. Filters the
// daily usage rollup can answer (all but a name or id search) are read
// from it, with running jobs counted beside; a search adds up the jobs
// themselves.
func (s *ReportStore) Totals(ctx context.Context, sc Scope, f JobFilter) (_ JobTotals, err error) {
	defer annotate(&err, "adding up jobs")
	var t JobTotals
	var coreSec, gpuSec int64
	if f.Search == "" && !f.Wasteful { // the rollup knows no single job's efficiency
		where, args := usageWhere(sc, f)
		for _, c := range []struct{ col, val string }{{"u.partition", f.Partition}, {"u.qos", f.QOS}, {"u.state", f.State}} {
			if c.val != "" {
				args = append(args, c.val)
				where += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
			}
		}
		// The rollup keeps archived months' jobs (for usage charts); a job
		// list holds only the jobs still in the database, so its totals
		// leave the archived ones out.
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0)::bigint, coalesce(sum(core_seconds), 0)::bigint,
				coalesce(sum(gpu_seconds), 0)::bigint, coalesce(sum(total_micros), 0)::bigint, coalesce(max(currency) FILTER (WHERE live), '')
			FROM (SELECT true AS live, jobs, core_seconds, gpu_seconds, total_micros, currency FROM `+usageTable(sc, f, false)+` WHERE `+where+`
				UNION ALL
				SELECT false, -jobs, -core_seconds, -gpu_seconds, -total_micros, currency FROM usage_daily_archived u WHERE `+where+`) u`,
			args...).Scan(&t.Jobs, &coreSec, &gpuSec, &t.Total, &t.Currency); err != nil {
			return t, err
		}
		rargs := []any{}
		conds := append(chargesFrom(filterConds(sc, f, &rargs), false), "j.end_time IS NULL")
		var running int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs j WHERE `+strings.Join(conds, " AND "), rargs...).Scan(&running); err != nil {
			return t, err
		}
		t.Jobs += running
		t.CoreHours, t.GPUHours = hours(coreSec), hours(gpuSec)
		return t, nil
	}
	args := []any{}
	conds := chargesFrom(filterConds(sc, f, &args), true)
	var currency *string
	err = s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(j.req_cpu * j.elapsed_seconds), 0)::bigint,
			coalesce(sum(j.req_gpu * j.elapsed_seconds), 0)::bigint, coalesce(sum(c.total), 0)::bigint, max(c.currency)
		FROM jobs j `+chargesJoin+`
		WHERE `+strings.Join(conds, " AND "), args...).Scan(&t.Jobs, &coreSec, &gpuSec, &t.Total, &currency)
	if err != nil {
		return t, err
	}
	t.CoreHours, t.GPUHours = hours(coreSec), hours(gpuSec)
	if currency != nil {
		t.Currency = *currency
	}
	return t, nil
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
func (s *ReportStore) Receipt(ctx context.Context, sc Scope, row int64) (_ Receipt, err error) {
	defer annotate(&err, "reading the receipt of job row %d", row)
	args := []any{row}
	cond := sc.where(&args)
	var rc Receipt
	r := &rc.Job
	var total *int64
	var currency *string
	var stepsJSON []byte
	err = s.pool.QueryRow(ctx, `SELECT j.id, j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.name, j.username, j.account,
			j.partition, j.qos, j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.req_cpu, j.req_mem_mib,
			j.req_gpu, j.cpu_time_us, j.reason, j.step_count, j.steps, j.eligible_time,
			(SELECT sum(total_micros) FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time), (SELECT max(currency) FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time)
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

// JobMatch is one job row a Slurm id names.
type JobMatch struct {
	Row    int64
	Submit time.Time
	State  string
}

// JobsByRef are the jobs in scope on cluster that Slurm calls ref, newest
// submission first (ties by Tally's row id, newest first), so the first is
// the one a person means: Slurm re-uses a job's id for each requeued
// attempt (a row each here), and after its id counter wraps or the
// controller's state is reset. None: not there, or not the viewer's,
// alike. An id is at most a few rows, so the list is not paged.
func (s *ReportStore) JobsByRef(ctx context.Context, sc Scope, cluster string, ref slurm.JobRef) (_ []JobMatch, err error) {
	defer annotate(&err, "finding job %s on %s", ref, cluster)
	args := []any{cluster}
	cond := "j.cluster = $1 AND " + jobRefCond(ref, &args)
	cond += " AND " + sc.where(&args)
	rows, err := s.pool.Query(ctx, `SELECT j.id, j.submit_time, j.state FROM jobs j WHERE `+cond+`
		ORDER BY `+newestFirst+` LIMIT 100`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobMatch
	for rows.Next() {
		var m JobMatch
		if err := rows.Scan(&m.Row, &m.Submit, &m.State); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
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

// AccountTotals is one account's or user's figures over a range.
type AccountTotals struct {
	Name  string
	Jobs  int64
	Total billing.Micros
}
