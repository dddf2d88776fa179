package postgres

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgcopy"
	"github.com/tally-hpc/tally/internal/pgstats"
)

// RateOptions choose how jobs are rated.
type RateOptions struct {
	Attribution string // end (default) or split
	Rounding    billing.Rounding
	// OnlyChanged rates only the jobs written since the last rating run,
	// while the rate cards, periods and options are those of the last run
	// that rated every job; otherwise every job is rated, as without it.
	OnlyChanged bool
	// Progress is told how many jobs have been rated so far.
	Progress func(rated int)
}

// RateSummary says what a rating run did.
type RateSummary struct {
	// OnlyChanged says the run rated only jobs written since the last
	// one (see RateOptions.OnlyChanged).
	OnlyChanged bool
	Jobs        int // jobs read
	Charges     int // charge rows computed
	Written     int // rows inserted or changed
	Unchanged   int
	Closed      int    // portions left alone because their period is closed
	Failed      int    // jobs that could not be rated (no card, no prices)
	FirstFail   string // why the first of them failed
	Took        time.Duration
	// UsageDays is how many days of the daily usage rollup were rebuilt
	// after the charges were committed, in UsageTook.
	UsageDays int
	UsageTook time.Duration
}

// periodFor finds the period holding t (periods are sorted, disjoint).
func periodFor(ps []Period, t time.Time) *Period {
	i := sort.Search(len(ps), func(i int) bool { return ps[i].Ends.After(t) })
	if i < len(ps) && !ps[i].Starts.After(t) {
		return &ps[i]
	}
	return nil
}

// portions splits a job's run at period boundaries (split attribution).
func portions(ps []Period, start, end time.Time) [][2]time.Time {
	var out [][2]time.Time
	cur := start
	for _, p := range ps {
		if !p.Ends.After(cur) || !p.Starts.Before(end) {
			continue
		}
		if p.Starts.After(cur) {
			out = append(out, [2]time.Time{cur, p.Starts}) // a gap between periods
			cur = p.Starts
		}
		e := p.Ends
		if e.After(end) {
			e = end
		}
		out = append(out, [2]time.Time{cur, e})
		cur = e
	}
	if cur.Before(end) || len(out) == 0 {
		out = append(out, [2]time.Time{cur, end})
	}
	return out
}

const chargeColumns = `job_row, portion_start, portion_end, period_id, cluster, account, username, rate_card_id, currency,
	total_micros, idle_micros, efficiency_ppm, not_charged, account_reason, lines, charge_hash, job_submit`

func chargeColumnList() []string {
	return []string{"job_row", "portion_start", "portion_end", "period_id", "cluster", "account", "username", "rate_card_id", "currency",
		"total_micros", "idle_micros", "efficiency_ppm", "not_charged", "account_reason", "lines", "charge_hash", "job_submit"}
}

// rateLock serialises rating runs across replicas (a transaction-level
// advisory lock): new charges are written with a plain COPY.
const rateLock = 0x7461_6c6c_7972

// jobColumns are what rating reads of a job; the last column is the
// job's existing charge ("hash@portion_start") when it has exactly one.
const jobColumns = `j.id, j.cluster, j.job_id, j.username, j.account, j.partition, j.qos, j.state,
	j.start_time, j.end_time, j.elapsed_seconds, j.cpu_time_us,
	j.req_cpu, j.req_mem_mib, j.req_nodes, j.req_billing, j.req_gpu, j.req_gpu_types,
	j.alloc_cpu, j.alloc_mem_mib, j.alloc_nodes, j.alloc_billing, j.alloc_gpu, j.alloc_gpu_types, j.submit_time`

// usageRow reads jobColumns into a billing.Usage; rating, what-if and
// recheck all read jobs this way.
type usageRow struct {
	row                  int64
	u                    billing.Usage
	start, end           *time.Time
	reqTypes, allocTypes []byte
	submit               time.Time // the job's partition key, which its charges share
}

// dest is what rows.Scan fills, in jobColumns order.
func (r *usageRow) dest() []any {
	u := &r.u
	return []any{&r.row, &u.Cluster, &u.JobID, &u.User, &u.Account, &u.Partition, &u.QOS, &u.State,
		&r.start, &r.end, &u.ElapsedSeconds, &u.CPUTimeMicros,
		&u.Requested.CPU, &u.Requested.MemMiB, &u.Requested.Nodes, &u.Requested.Billing, &u.Requested.GPU, &r.reqTypes,
		&u.Allocated.CPU, &u.Allocated.MemMiB, &u.Allocated.Nodes, &u.Allocated.Billing, &u.Allocated.GPU, &r.allocTypes, &r.submit}
}

// usage finishes the scanned row: times and typed GPU counts.
func (r *usageRow) usage() (int64, billing.Usage) {
	u := r.u
	if r.start != nil {
		u.Start = *r.start
	}
	if r.end != nil {
		u.End = *r.end
	}
	u.Requested.GPUByType = gpuTypes(r.reqTypes)
	u.Allocated.GPUByType = gpuTypes(r.allocTypes)
	return r.row, u
}

// notClosed selects the jobs rating charges: ended (an end time that has
// passed, and not a state Slurm gives jobs still running) and not in a
// closed period. A record whose end time is still to come is a job that
// has not ended, whatever it says; it is charged once it has.
const notClosed = `j.end_time IS NOT NULL AND j.end_time <= now() AND ` + notRunningState + `
	AND NOT EXISTS (SELECT 1 FROM billing_periods p WHERE p.status = 'closed'
	                AND coalesce(j.start_time, j.end_time) >= p.starts_at AND j.end_time < p.ends_at)`

// notRunningState is false for states of jobs that have not ended.
const notRunningState = `j.state NOT IN ('RUNNING', 'PENDING', 'SUSPENDED')`

// RateOpen (re-)rates every ended job whose charge is not in a closed
// period, deterministically: the same jobs, cards and options give the same
// rows. In one transaction it makes two passes: jobs never rated are
// rated and their charges written straight into job_charges with COPY;
// jobs already rated are rated again, charges that did not change are left
// alone, and the others are replaced through a staging table.
func (s *RatingStore) RateOpen(ctx context.Context, opt RateOptions) (_ RateSummary, err error) {
	defer annotate(&err, "rating")
	began := time.Now()
	var sum RateSummary
	cards, err := s.cards.Cards(ctx)
	if err != nil {
		return sum, err
	}
	periods, err := s.periods.Periods(ctx)
	if err != nil {
		return sum, err
	}
	r := &ratingRun{rater: billing.Rater{Cards: cards, Rounding: opt.Rounding}, periods: periods,
		split: opt.Attribution == "split", sum: &sum, progress: opt.Progress, now: time.Now()}
	which := notClosed
	if r.split {
		// Under split attribution running jobs are charged for the periods
		// that have ended, and the rest when they end.
		which = "(" + notClosed + ") OR (j.end_time IS NULL AND j.start_time IS NOT NULL AND j.state = 'RUNNING')"
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(rateLock)); err != nil {
		return sum, err
	}
	// Take the queue of jobs written since the last run first: a job
	// committed after this point stays queued for the next run, one
	// committed before it is seen by the reads below.
	fp := ratingFingerprint(cards, periods, opt, r.now)
	only, err := takeQueue(ctx, tx, opt.OnlyChanged, fp)
	if err != nil {
		return sum, err
	}
	var args []any
	existingFrom := `job_charges`
	if only != nil {
		if len(only) == 0 {
			sum.OnlyChanged, sum.Took = true, time.Since(began)
			return sum, tx.Commit(ctx)
		}
		sum.OnlyChanged, r.touchAll = true, true
		which = "(" + which + ") AND j.id = ANY($1)"
		existingFrom = `job_charges WHERE job_row = ANY($1)`
		args = append(args, only)
	}
	// Charges of jobs that turned out not to have ended (a record with an
	// end time still to come, rated before that was refused) go, unless
	// their period is closed; running jobs' portions under split
	// attribution are kept.
	if _, err := tx.Exec(ctx, `DELETE FROM job_charges c
		WHERE c.job_row IN (SELECT id FROM jobs WHERE end_time > now())
		  AND (c.period_id IS NULL OR c.period_id IN (SELECT id FROM billing_periods WHERE status = 'open'))`); err != nil {
		return sum, fmt.Errorf("charges of jobs not ended: %w", err)
	}
	// Reading streams on its own connection while the COPY runs on the
	// transaction's. The reader sees committed data only, so the second
	// pass does not meet the charges the first pass just wrote.
	readConn, err := s.pool.Acquire(ctx)
	if err != nil {
		return sum, err
	}
	defer readConn.Release()

	// Pass 1, every job once: new charges go straight into job_charges;
	// a charge equal to the stored one is skipped; jobs whose charge
	// changed are remembered for pass 2.
	direct := pgcopy.Start(ctx, tx, "job_charges", chargeColumnList())
	var changed []int64
	err = r.each(ctx, readConn, `SELECT `+jobColumns+`, c.existing
		FROM jobs j LEFT JOIN (
			SELECT job_row, CASE WHEN count(*) = 1 THEN max(charge_hash) || '@' || max(extract(epoch FROM portion_start))::bigint ELSE '' END AS existing
			FROM `+existingFrom+` GROUP BY job_row) c ON c.job_row = j.id
		WHERE `+which,
		func(row int64, rows [][]any, existing *string) error {
			switch {
			case existing == nil:
				sum.Written += len(rows)
				return direct.AddAll(rows)
			case len(rows) == 1 && *existing == fmt.Sprintf("%s@%d", rows[0][15], rows[0][1].(time.Time).Unix()):
				sum.Unchanged++
				return nil
			}
			changed = append(changed, row)
			return nil
		}, args...)
	if cerr := direct.Finish(); err == nil && cerr != nil {
		err = fmt.Errorf("writing charges: %w", cerr)
	}
	if err != nil {
		return sum, err
	}

	// Pass 2: the changed jobs, rated again into a staging table and
	// merged.
	if len(changed) > 0 {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE charges_staging ON COMMIT DROP AS SELECT `+chargeColumns+` FROM job_charges WITH NO DATA`); err != nil {
			return sum, err
		}
		staged := 0
		stage := pgcopy.Start(ctx, tx, "charges_staging", chargeColumnList())
		jobs := sum.Jobs
		err = r.each(ctx, readConn, `SELECT `+jobColumns+`, NULL FROM jobs j WHERE j.id = ANY($1)`,
			func(_ int64, rows [][]any, _ *string) error {
				staged += len(rows)
				return stage.AddAll(rows)
			}, changed)
		sum.Jobs = jobs // counted in pass 1
		if cerr := stage.Finish(); err == nil && cerr != nil {
			err = fmt.Errorf("staging charges: %w", cerr)
		}
		if err != nil {
			return sum, err
		}
		// Portions that no longer exist (a job re-split, say) go, unless closed.
		if _, err := tx.Exec(ctx, `DELETE FROM job_charges c
			WHERE c.job_row IN (SELECT job_row FROM charges_staging)
			  AND NOT EXISTS (SELECT 1 FROM charges_staging s WHERE s.job_row = c.job_row AND s.portion_start = c.portion_start)
			  AND (c.period_id IS NULL OR c.period_id IN (SELECT id FROM billing_periods WHERE status = 'open'))`); err != nil {
			return sum, err
		}
		var written int
		err = tx.QueryRow(ctx, `WITH up AS (
			INSERT INTO job_charges (`+chargeColumns+`) SELECT `+chargeColumns+` FROM charges_staging
			ON CONFLICT (job_row, job_submit, portion_start) DO UPDATE SET portion_end = EXCLUDED.portion_end, period_id = EXCLUDED.period_id,
				cluster = EXCLUDED.cluster, account = EXCLUDED.account, username = EXCLUDED.username, rate_card_id = EXCLUDED.rate_card_id,
				currency = EXCLUDED.currency, total_micros = EXCLUDED.total_micros, idle_micros = EXCLUDED.idle_micros,
				efficiency_ppm = EXCLUDED.efficiency_ppm, not_charged = EXCLUDED.not_charged, account_reason = EXCLUDED.account_reason,
				lines = EXCLUDED.lines, charge_hash = EXCLUDED.charge_hash, computed_at = now()
			WHERE job_charges.charge_hash <> EXCLUDED.charge_hash
			RETURNING 1)
			SELECT count(*) FROM up`).Scan(&written)
		if err != nil {
			return sum, fmt.Errorf("writing charges: %w", err)
		}
		sum.Written += written
		sum.Unchanged += staged - written
	}
	if err := tx.Commit(ctx); err != nil {
		return sum, err
	}
	if sum.Written > 0 {
		// The wasteful-jobs lists drive from this small table when the
		// planner knows how small it is.
		_, _ = pgstats.AnalyzeStaleSmall(ctx, s.pool, "wasteful_jobs")
	}
	if sum.Written > 1000 {
		_, _ = pgstats.AnalyzeStale(ctx, s.pool, "job_charges")
	}
	sum.Took = time.Since(began)
	// The rollup pages read follows, for the days whose jobs changed.
	t := time.Now()
	if err := s.refreshUsageDays(ctx, r.days()); err != nil {
		return sum, fmt.Errorf("charges saved; refreshing daily usage: %w", err)
	}
	sum.UsageDays = len(r.touched)
	sum.UsageTook = time.Since(t)
	return sum, nil
}

// ratingRun rates the jobs a query returns.
type ratingRun struct {
	rater    billing.Rater
	periods  []Period
	split    bool
	sum      *RateSummary
	progress func(int)
	now      time.Time
	// touched are the end days (UTC) of jobs that are new, changed or
	// unrated: the days whose daily usage must be rebuilt.
	touched map[time.Time]struct{}
	// touchAll counts every job read as changed (they were all written
	// since the last run), even when its charge is the same.
	touchAll bool
}

func (r *ratingRun) touch(end time.Time) {
	if end.IsZero() {
		return
	}
	if r.touched == nil {
		r.touched = map[time.Time]struct{}{}
	}
	r.touched[day(end)] = struct{}{}
}

func (r *ratingRun) days() []time.Time {
	out := make([]time.Time, 0, len(r.touched))
	for d := range r.touched {
		out = append(out, d)
	}
	return out
}

// each streams the query's jobs and hands each job's charge rows (and the
// job's existing charge, if the query gives one) to handle.
func (r *ratingRun) each(ctx context.Context, conn *pgxpool.Conn, query string, handle func(row int64, rows [][]any, existing *string) error, args ...any) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ur usageRow
		var existing *string
		if err := rows.Scan(append(ur.dest(), &existing)...); err != nil {
			return err
		}
		row, u := ur.usage()
		r.sum.Jobs++
		if existing == nil || r.touchAll { // never rated, or rated again in pass 2
			r.touch(u.End)
		}
		out := r.charges(row, u)
		for i := range out {
			out[i] = append(out[i], ur.submit)
		}
		if len(out) > 0 {
			r.sum.Charges += len(out)
			if err := handle(row, out, existing); err != nil {
				return err
			}
		}
		if r.progress != nil && r.sum.Jobs%100000 == 0 {
			r.progress(r.sum.Jobs)
		}
	}
	return rows.Err()
}

// charges rates one job into its charge rows (one, or one per period
// under split attribution), skipping portions in closed periods.
func (r *ratingRun) charges(row int64, u billing.Usage) [][]any {
	if u.End.IsZero() {
		return r.runningCharges(row, u)
	}
	spans := [][2]time.Time{{u.Start, u.End}}
	if r.split && !u.Start.IsZero() {
		spans = portions(r.periods, u.Start, u.End)
	}
	var out [][]any
	for i, sp := range spans {
		anchor := sp[1]
		if i < len(spans)-1 {
			anchor = sp[0] // a portion belongs to the period it starts in
		}
		p := periodFor(r.periods, anchor)
		if p == nil && sp[1].Equal(u.End) {
			p = periodFor(r.periods, u.End.Add(-time.Nanosecond))
		}
		if p != nil && p.Status == "closed" {
			r.sum.Closed++
			continue
		}
		ch, err := r.rater.RatePortion(u, sp[0], sp[1], i == len(spans)-1)
		if err != nil {
			r.sum.Failed++
			if r.sum.FirstFail == "" {
				r.sum.FirstFail = fmt.Sprintf("job %d: %v", u.JobID, err)
			}
			return nil
		}
		portionStart := sp[0]
		if portionStart.IsZero() {
			portionStart = u.End // never ran: keyed at its end
		}
		out = append(out, chargeRow(row, u, ch, p, portionStart, sp[1]))
	}
	return out
}

// runningCharges charges a running job (split attribution) for the
// periods that have already ended: as if it had stopped at the end of the
// last of them, which is also whose rate card applies. The rest is charged
// once the job ends; portions keep their keys, so nothing is counted twice.
func (r *ratingRun) runningCharges(row int64, u billing.Usage) [][]any {
	var last time.Time
	for _, p := range r.periods {
		if !p.Ends.After(r.now) && p.Ends.After(u.Start) {
			last = p.Ends
		}
	}
	if last.IsZero() {
		return nil
	}
	interim := u
	interim.State = "COMPLETED"
	interim.End = last
	interim.ElapsedSeconds = int64(last.Sub(u.Start) / time.Second)
	var out [][]any
	for _, sp := range portions(r.periods, u.Start, last) {
		p := periodFor(r.periods, sp[0])
		if p == nil || p.Status == "closed" {
			continue
		}
		ch, err := r.rater.RatePortion(interim, sp[0], sp[1], false)
		if err != nil {
			r.sum.Failed++
			if r.sum.FirstFail == "" {
				r.sum.FirstFail = fmt.Sprintf("job %d: %v", u.JobID, err)
			}
			return nil
		}
		out = append(out, chargeRow(row, u, ch, p, sp[0], sp[1]))
	}
	return out
}

func gpuTypes(b []byte) map[string]int64 {
	if len(b) <= 2 {
		return nil
	}
	var m map[string]int64
	_ = json.Unmarshal(b, &m)
	return m
}

func chargeRow(row int64, u billing.Usage, ch billing.Charge, p *Period, from, to time.Time) []any {
	lines := appendLines(make([]byte, 0, 256), ch.Lines)
	var periodID, cardID, eff any
	var pid, cid int64
	if p != nil {
		periodID, pid = p.ID, p.ID
	}
	if ch.RateCardID != 0 {
		cardID, cid = ch.RateCardID, ch.RateCardID
	}
	if ch.EfficiencyPPM != 0 || ch.Total != 0 {
		eff = ch.EfficiencyPPM
	}
	// The hash only detects change between ratings; FNV-128 is enough.
	h := fnv.New128a()
	var buf [8]byte
	for _, n := range []int64{pid, cid, to.Unix(), int64(ch.Total), int64(ch.IdleCost), ch.EfficiencyPPM} {
		binary.LittleEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	for _, s := range []string{u.Cluster, u.Account, u.User, ch.Currency, ch.NotCharged, ch.AccountReason} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(lines)
	return []any{row, from, to, periodID, u.Cluster, u.Account, u.User, cardID, ch.Currency, int64(ch.Total), int64(ch.IdleCost),
		eff, ch.NotCharged, ch.AccountReason, lines, hex.EncodeToString(h.Sum(nil))}
}

// appendLines encodes charge lines as billing.Line's MarshalJSON does,
// without reflection: rating writes millions of them.
func appendLines(b []byte, lines []billing.Line) []byte {
	b = append(b, '[')
	for i, l := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendString(b, l.Component)
		b = append(b, ',')
		b = appendString(b, l.GPUType)
		b = append(b, ',')
		b = appendString(b, l.Quantity)
		b = append(b, ',')
		b = appendString(b, l.Unit)
		for _, n := range []int64{int64(l.UnitPrice), int64(l.QOSMultiplier), int64(l.AccountMultiplier), int64(l.Amount)} {
			b = append(b, ',')
			b = strconv.AppendInt(b, n, 10)
		}
		b = append(b, ',')
		b = appendString(b, l.Note)
		b = append(b, ']')
	}
	return append(b, ']')
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
