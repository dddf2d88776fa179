package postgres

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// CSVSafe neutralises a cell a spreadsheet would run as a formula
// (=, +, -, @, tab, CR), by prefixing an apostrophe.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// AccountSummaryColumns are the columns of the account summary export
// (docs/csv.md, version 1).
func AccountSummaryColumns() []string {
	return []string{"period", "statement_number", "account", "display_name", "pi", "cost_centre", "po_number",
		"jobs", "charges", "adjustments", "total", "currency", "sha256", "status"}
}

// WriteAccountSummary writes one row per account statement of the period.
func (s *Store) WriteAccountSummary(ctx context.Context, w io.Writer, name string, accounts []string, rule billing.Rounding) error {
	ps, err := s.Statements(ctx, name, accounts, rule)
	if err != nil {
		return err
	}
	details, err := s.detailsMap(ctx)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(AccountSummaryColumns())
	for _, st := range ps.Statements {
		var charges, adj billing.Micros
		for _, l := range st.Lines {
			if l.Component == "adjustments" {
				adj += l.Amount
			} else {
				charges += l.Amount
			}
		}
		d := details[st.Account]
		cw.Write([]string{ps.Period.Name, st.Number, CSVSafe(st.Account), CSVSafe(d.DisplayName), CSVSafe(d.PI), CSVSafe(d.CostCentre),
			CSVSafe(d.PONumber), strconv.Itoa(st.Jobs), cents(charges, st.Currency), cents(adj, st.Currency), cents(st.Total, st.Currency), st.Currency, st.SHA256, ps.Period.Status})
	}
	cw.Flush()
	return cw.Error()
}

// cents prints a statement amount (already rounded) with the minor-unit
// digits of its currency.
func cents(m billing.Micros, currency string) string {
	return m.MinorString(billing.DefaultMinorDigits(currency), billing.HalfUp)
}

// JobLineColumns are the columns of the job lines export (docs/csv.md,
// version 1). Amounts are exact to the micro-unit.
func JobLineColumns() []string {
	return []string{"period", "cluster", "job_id", "array_job_id", "array_task_id", "het_job_id", "user", "account",
		"partition", "qos", "state", "submit", "start", "end", "elapsed_hours", "cpu_hours", "req_cpu", "req_mem_mib", "req_gpu",
		"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum", "qos_multiplier", "account_multiplier", "total", "currency", "rate_card"}
}

// WriteJobLines streams every charge of the period, one row per job
// portion, straight from the database cursor: memory stays constant.
func (s *Store) WriteJobLines(ctx context.Context, w io.Writer, name string, accounts []string) error {
	p, err := s.Period(ctx, name)
	if err != nil {
		return err
	}
	args := []any{p.ID}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND c.account = ANY($2)"
	}
	rows, err := s.pool.Query(ctx, `SELECT j.cluster, j.job_id, j.array_job_id, j.array_task_id, j.het_job_id, j.username, j.account,
			j.partition, j.qos, j.state, j.submit_time, j.start_time, j.end_time, j.elapsed_seconds, j.cpu_time_us,
			j.req_cpu, j.req_mem_mib, j.req_gpu, c.lines, c.total_micros, c.currency, coalesce(rc.name || ' v' || rc.version, '')
		FROM job_charges c JOIN jobs j ON j.id = c.job_row LEFT JOIN rate_cards rc ON rc.id = c.rate_card_id
		WHERE c.period_id = $1`+cond+` ORDER BY c.job_row, c.portion_start`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	cw.Write(JobLineColumns())
	iso := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	hours := func(sec int64) string { return billing.Micros(sec * 1_000_000 / 3600).String() }
	n := 0
	for rows.Next() {
		var cluster, user, account, partition, qos, state, currency, card string
		var jobID, arrayJob, het, elapsed, cpuUs, cpu, mem, gpu, total int64
		var task *int64
		var submit time.Time
		var start, end *time.Time
		var linesJSON []byte
		if err := rows.Scan(&cluster, &jobID, &arrayJob, &task, &het, &user, &account, &partition, &qos, &state, &submit, &start, &end,
			&elapsed, &cpuUs, &cpu, &mem, &gpu, &linesJSON, &total, &currency, &card); err != nil {
			return err
		}
		lines, err := billing.ParseLines(linesJSON)
		if err != nil {
			return err
		}
		comp := map[string]billing.Micros{}
		qm, am := billing.One, billing.One
		for _, l := range lines {
			comp[l.Component] += l.Amount
			if l.Component != "minimum" {
				qm, am = l.QOSMultiplier, l.AccountMultiplier
			}
		}
		taskS := ""
		if task != nil {
			taskS = strconv.FormatInt(*task, 10)
		}
		rec := []string{p.Name, CSVSafe(cluster), strconv.FormatInt(jobID, 10), strconv.FormatInt(arrayJob, 10), taskS, strconv.FormatInt(het, 10),
			CSVSafe(user), CSVSafe(account), CSVSafe(partition), CSVSafe(qos), state, submit.UTC().Format(time.RFC3339), iso(start), iso(end),
			hours(elapsed), hours(cpuUs / 1_000_000), strconv.FormatInt(cpu, 10), strconv.FormatInt(mem, 10), strconv.FormatInt(gpu, 10)}
		for _, c := range []string{"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum"} {
			rec = append(rec, comp[c].String())
		}
		rec = append(rec, qm.String(), am.String(), billing.Micros(total).String(), currency, card)
		cw.Write(rec)
		if n++; n%1000 == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := rows.Err(); err != nil {
		return err
	}
	return cw.Error()
}
