package postgres

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tally-hpc/tally/billing"
)

// CSVSafe neutralises a text cell a spreadsheet would run as a formula,
// by prefixing an apostrophe. Spreadsheets skip leading blanks and line
// breaks before they look, so the first character that is not white space
// or an invisible control or format character decides: = + - @, or their
// fullwidth forms, which some spreadsheets read as the ASCII ones. A cell
// starting with a tab or CR is guarded whatever follows, as importers
// split or drop those. Every text cell of every export passes through
// here; amounts and counts are numbers, never guarded, so a credit of
// -12.50 stays a number.
func CSVSafe(s string) string {
	if s == "" {
		return s
	}
	// Nearly every cell starts with a printable ASCII character that
	// settles it: the job lines export calls this millions of times.
	if c := s[0]; c > ' ' && c < utf8.RuneSelf && c != 0x7f {
		if c == '=' || c == '+' || c == '-' || c == '@' {
			return "'" + s
		}
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		case strings.ContainsRune("=+-@\uff1d\uff0b\uff0d\uff20", r):
			return "'" + s
		}
		return s
	}
	return s
}

// AccountSummaryColumns are the columns of the account summary export
// (docs/csv.md, version 4). One row stays one statement (one invoice), so
// the clusters it charges for are a column of their own, added last so
// that importers reading columns by position keep working.
func AccountSummaryColumns() []string {
	return []string{"period", "statement_number", "account", "display_name", "pi", "cost_centre", "po_number",
		"jobs", "core_hours", "gpu_hours", "charges", "adjustments", "total", "currency", "sha256", "status", "clusters"}
}

// WriteAccountSummary writes one row per account statement of the
// period: the same statements the period page shows (issued, or the
// preview), each amount printed by the rounding policy with its
// currency's minor digits. Closed periods print the account details
// frozen into the statement.
func (s *ExportStore) WriteAccountSummary(ctx context.Context, w io.Writer, name string, accounts []string, rule billing.Rounding) (err error) {
	defer annotate(&err, "exporting the account summary of %s", name)
	ps, err := s.periods.Statements(ctx, name, accounts, rule)
	if err != nil {
		return err
	}
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return err
	}
	usage := map[string][2]string{}
	// With what archived months kept of their charges (migration 00021).
	urows, err := s.pool.Query(ctx, `SELECT account, coalesce(sum(core), 0)::bigint, coalesce(sum(gpu), 0)::bigint FROM (
			SELECT c.account, sum(j.req_cpu * j.elapsed_seconds) AS core, sum(j.req_gpu * j.elapsed_seconds) AS gpu
			FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit
			WHERE c.period_id = $1 AND c.not_charged = '' GROUP BY 1
			UNION ALL
			SELECT a.account, sum(a.core_seconds), sum(a.gpu_seconds) FROM archived_charge_usage a WHERE a.period_id = $1 GROUP BY 1) u
		GROUP BY 1`, ps.Period.ID)
	if err != nil {
		return fmt.Errorf("usage of %s: %w", name, err)
	}
	for urows.Next() {
		var a string
		var core, gpu int64
		if err := urows.Scan(&a, &core, &gpu); err != nil {
			urows.Close()
			return err
		}
		usage[a] = [2]string{hours(core), hours(gpu)}
	}
	urows.Close()
	cw := csv.NewWriter(w)
	cw.Write(AccountSummaryColumns())
	for _, st := range ps.Statements {
		d := st.Details
		u := usage[st.Account]
		if u[0] == "" {
			u = [2]string{"0.00", "0.00"}
		}
		cw.Write([]string{CSVSafe(ps.Period.Name), CSVSafe(st.Number), CSVSafe(st.Account), CSVSafe(d.DisplayName), CSVSafe(d.PI), CSVSafe(d.CostCentre),
			CSVSafe(d.PONumber), strconv.Itoa(st.Jobs), u[0], u[1], pol.Format(st.Charges(), st.Currency), pol.Format(st.Adjustments(), st.Currency),
			pol.Format(st.Total, st.Currency), CSVSafe(st.Currency), CSVSafe(st.SHA256), CSVSafe(ps.Period.Status),
			CSVSafe(strings.Join(st.Clusters(), " "))})
	}
	cw.Flush()
	return cw.Error()
}

// JobLineColumns are the columns of the job lines export (docs/csv.md,
// version 1). Amounts are exact to the micro-unit.
func JobLineColumns() []string {
	return []string{"period", "cluster", "job_id", "array_job_id", "array_task_id", "het_job_id", "name", "user", "account",
		"partition", "qos", "state", "submit", "start", "end", "elapsed_hours", "cpu_hours", "req_cpu", "req_mem_mib", "req_gpu",
		"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum", "qos_multiplier", "account_multiplier", "total", "currency", "rate_card"}
}

// WriteJobLines streams every charge of the period, one row per job
// charged in it (a job split across periods has a row in each), straight
// from the database cursor: memory stays constant. Jobs not charged
// (failed nodes, never started) are left out, as statements leave them
// out of their job counts.
func (s *ExportStore) WriteJobLines(ctx context.Context, w io.Writer, name string, accounts []string) (err error) {
	defer annotate(&err, "exporting the job lines of %s", name)
	p, err := s.periods.Period(ctx, name)
	if err != nil {
		return err
	}
	args := []any{p.ID}
	cond, acond := "", ""
	if accounts != nil {
		args = append(args, accounts)
		cond, acond = " AND c.account = ANY($2)", " AND a.account = ANY($2)"
	}
	// A job's line needs its rows: an archived month's jobs have left the
	// database, and a file without them would not add up to the
	// statements. Say so instead, before writing anything.
	var archivedJobs int64
	var months string
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(a.jobs), 0)::bigint, coalesce(string_agg(DISTINCT to_char(a.month, 'YYYY-MM'), ', '), '')
		FROM archived_charge_usage a WHERE a.period_id = $1`+acond, args...).Scan(&archivedJobs, &months); err != nil {
		return err
	}
	if archivedJobs > 0 {
		return billing.Conflictf("the job lines of %s include %d jobs submitted in %s, which is archived: restore it to export them (docs/scaling.md); the account summary and the statements still hold their figures",
			p.Name, archivedJobs, months)
	}
	rows, err := s.pool.Query(ctx, `SELECT j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.het_job_id, j.name, j.username, j.account,
			j.partition, j.qos, j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.cpu_time_us,
			j.req_cpu, j.req_mem_mib, j.req_gpu, c.lines, c.total_micros, c.currency, coalesce(rc.name || ' v' || rc.version, '')
		FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit LEFT JOIN rate_cards rc ON rc.id = c.rate_card_id
		WHERE c.period_id = $1 AND c.not_charged = ''`+cond, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := &rowWriter{w: bufio.NewWriterSize(w, 256<<10)}
	for _, c := range JobLineColumns() {
		out.field(c)
	}
	out.end()
	components := [...]string{"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum"}
	period := CSVSafe(p.Name)
	for rows.Next() {
		var cluster, jobName, user, account, partition, qos, state, currency, card string
		var jobID, arrayJob, het, elapsed, cpuUs, cpu, mem, gpu, total int64
		var task *int64
		var submit time.Time
		var start, end *time.Time
		var linesJSON []byte
		if err := rows.Scan(&cluster, &jobID, &arrayJob, &task, &het, &jobName, &user, &account, &partition, &qos, &state, &submit, &start, &end,
			&elapsed, &cpuUs, &cpu, &mem, &gpu, &linesJSON, &total, &currency, &card); err != nil {
			return err
		}
		lines, err := billing.ParseLines(linesJSON)
		if err != nil {
			return err
		}
		var comp [len(components)]billing.Micros
		qm, am := billing.One, billing.One
		for _, l := range lines {
			for i, c := range components {
				if c == l.Component {
					comp[i] += l.Amount
				}
			}
			if l.Component != "minimum" {
				qm, am = l.QOSMultiplier, l.AccountMultiplier
			}
		}
		out.field(period)
		out.field(CSVSafe(cluster))
		out.int(jobID)
		out.int(arrayJob)
		if task != nil {
			out.int(*task)
		} else {
			out.field("")
		}
		out.int(het)
		for _, s := range []string{jobName, user, account, partition, qos, state} {
			out.field(CSVSafe(s))
		}
		out.time(&submit)
		out.time(start)
		out.time(end)
		out.micros(billing.Micros(elapsed * 1_000_000 / 3600))
		out.micros(billing.Micros(cpuUs / 1_000_000 * 1_000_000 / 3600))
		out.int(cpu)
		out.int(mem)
		out.int(gpu)
		for _, m := range comp {
			out.micros(m)
		}
		out.field(qm.String())
		out.field(am.String())
		out.micros(billing.Micros(total))
		out.field(CSVSafe(currency))
		out.field(CSVSafe(card))
		out.end()
		if out.err != nil {
			return out.err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return out.flush()
}

// rowWriter writes RFC 4180 rows as encoding/csv does, appending bytes
// instead of building a []string a row: the job lines export writes
// millions of rows.
type rowWriter struct {
	w     *bufio.Writer
	buf   []byte
	first bool
	err   error
}

func (r *rowWriter) sep() {
	if r.first {
		r.buf = append(r.buf, ',')
	}
	r.first = true
}

// field appends a text cell, quoted when it holds a comma, quote, CR or LF
// or starts with white space (encoding/csv's rule, which
// FuzzRowWriterMatchesEncodingCSV holds it to).
func (r *rowWriter) field(s string) {
	r.sep()
	if s == "" {
		return
	}
	first, _ := utf8.DecodeRuneInString(s)
	if !strings.ContainsAny(s, ",\"\r\n") && !unicode.IsSpace(first) && s != `\.` {
		r.buf = append(r.buf, s...)
		return
	}
	r.buf = append(r.buf, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			r.buf = append(r.buf, '"')
		}
		r.buf = append(r.buf, s[i])
	}
	r.buf = append(r.buf, '"')
}

func (r *rowWriter) int(n int64) {
	r.sep()
	r.buf = strconv.AppendInt(r.buf, n, 10)
}

func (r *rowWriter) micros(m billing.Micros) {
	r.sep()
	r.buf = append(r.buf, m.String()...)
}

func (r *rowWriter) time(t *time.Time) {
	r.sep()
	if t != nil {
		r.buf = t.UTC().AppendFormat(r.buf, time.RFC3339)
	}
}

func (r *rowWriter) end() {
	r.buf = append(r.buf, '\n')
	r.first = false
	if len(r.buf) > 64<<10 {
		r.flushBuf()
	}
}

func (r *rowWriter) flushBuf() {
	if r.err == nil {
		_, r.err = r.w.Write(r.buf)
	}
	r.buf = r.buf[:0]
}

func (r *rowWriter) flush() error {
	r.flushBuf()
	if r.err != nil {
		return r.err
	}
	return r.w.Flush()
}
