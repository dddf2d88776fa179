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

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// Period is a billing period.
type Period struct {
	ID       int64
	Name     string
	Starts   time.Time
	Ends     time.Time
	Status   string
	ClosedAt *time.Time
	ClosedBy string
}

// Periods lists every billing period, oldest first.
func (s *Store) Periods(ctx context.Context) ([]Period, error) {
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

// RateOptions choose how jobs are rated.
type RateOptions struct {
	Attribution string // end (default) or split
	Rounding    billing.Rounding
	// Progress is told how many jobs have been rated so far.
	Progress func(rated int)
}

// RateSummary says what a rating run did.
type RateSummary struct {
	Jobs      int // jobs read
	Charges   int // charge rows computed
	Written   int // rows inserted or changed
	Unchanged int
	Closed    int    // portions left alone because their period is closed
	Failed    int    // jobs that could not be rated (no card, no prices)
	FirstFail string // why the first of them failed
	Took      time.Duration
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
	total_micros, idle_micros, efficiency_ppm, not_charged, account_reason, lines, charge_hash`

// RateOpen (re-)rates every ended job whose charge is not in a closed
// period, deterministically: the same jobs, cards and options give the same
// rows, and rows whose content is unchanged are not rewritten.
func (s *Store) RateOpen(ctx context.Context, opt RateOptions) (RateSummary, error) {
	began := time.Now()
	var sum RateSummary
	cards, err := s.Cards(ctx)
	if err != nil {
		return sum, err
	}
	periods, err := s.Periods(ctx)
	if err != nil {
		return sum, err
	}
	rater := billing.Rater{Cards: cards, Rounding: opt.Rounding}
	split := opt.Attribution == "split"

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE charges_staging ON COMMIT DROP AS SELECT `+chargeColumns+` FROM job_charges WITH NO DATA`); err != nil {
		return sum, err
	}

	// Reading and writing need separate connections: the read streams while
	// the staging COPY runs.
	readConn, err := s.pool.Acquire(ctx)
	if err != nil {
		return sum, err
	}
	defer readConn.Release()
	rows, err := readConn.Query(ctx, `SELECT j.id, j.cluster, j.job_id, j.username, j.account, j.partition, j.qos, j.state,
			j.start_time, j.end_time, j.elapsed_seconds, j.cpu_time_us,
			j.req_cpu, j.req_mem_mib, j.req_nodes, j.req_billing, j.req_gpu, j.req_gpu_types,
			j.alloc_cpu, j.alloc_mem_mib, j.alloc_nodes, j.alloc_billing, j.alloc_gpu, j.alloc_gpu_types
		FROM jobs j
		WHERE j.end_time IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM billing_periods p WHERE p.status = 'closed'
		                  AND coalesce(j.start_time, j.end_time) >= p.starts_at AND j.end_time < p.ends_at)`)
	if err != nil {
		return sum, err
	}
	defer rows.Close()

	batches := make(chan [][]any, 4)
	copied := make(chan error, 1)
	go func() {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"charges_staging"}, []string{
			"job_row", "portion_start", "portion_end", "period_id", "cluster", "account", "username", "rate_card_id", "currency",
			"total_micros", "idle_micros", "efficiency_ppm", "not_charged", "account_reason", "lines", "charge_hash",
		}, &chanSource{in: batches})
		if err != nil {
			go func() {
				for range batches {
				}
			}()
		}
		copied <- err
	}()
	batch := make([][]any, 0, 2000)
	send := func() error {
		select {
		case batches <- batch:
			batch = make([][]any, 0, 2000)
			return nil
		case err := <-copied:
			copied <- err
			return err
		}
	}

	for rows.Next() {
		var row int64
		var u billing.Usage
		var start, end *time.Time
		var reqTypes, allocTypes []byte
		if err := rows.Scan(&row, &u.Cluster, &u.JobID, &u.User, &u.Account, &u.Partition, &u.QOS, &u.State,
			&start, &end, &u.ElapsedSeconds, &u.CPUTimeMicros,
			&u.Requested.CPU, &u.Requested.MemMiB, &u.Requested.Nodes, &u.Requested.Billing, &u.Requested.GPU, &reqTypes,
			&u.Allocated.CPU, &u.Allocated.MemMiB, &u.Allocated.Nodes, &u.Allocated.Billing, &u.Allocated.GPU, &allocTypes); err != nil {
			close(batches)
			return sum, err
		}
		if start != nil {
			u.Start = *start
		}
		u.End = *end
		u.Requested.GPUByType = gpuTypes(reqTypes)
		u.Allocated.GPUByType = gpuTypes(allocTypes)
		sum.Jobs++

		spans := [][2]time.Time{{u.Start, u.End}}
		if split && !u.Start.IsZero() {
			spans = portions(periods, u.Start, u.End)
		}
		for i, sp := range spans {
			anchor := sp[1]
			if i < len(spans)-1 {
				anchor = sp[0] // a portion belongs to the period it starts in
			}
			p := periodFor(periods, anchor)
			if p == nil && sp[1].Equal(u.End) {
				p = periodFor(periods, u.End.Add(-time.Nanosecond))
			}
			if p != nil && p.Status == "closed" {
				sum.Closed++
				continue
			}
			ch, err := rater.RatePortion(u, sp[0], sp[1], i == len(spans)-1)
			if err != nil {
				sum.Failed++
				if sum.FirstFail == "" {
					sum.FirstFail = fmt.Sprintf("job %d: %v", u.JobID, err)
				}
				break
			}
			portionStart := sp[0]
			if portionStart.IsZero() {
				portionStart = u.End // never ran: keyed at its end
			}
			batch = append(batch, chargeRow(row, u, ch, p, portionStart, sp[1]))
			sum.Charges++
		}
		if len(batch) >= 2000 {
			if err := send(); err != nil {
				return sum, fmt.Errorf("staging charges: %w", err)
			}
		}
		if opt.Progress != nil && sum.Jobs%100000 == 0 {
			opt.Progress(sum.Jobs)
		}
	}
	if err := rows.Err(); err != nil {
		close(batches)
		return sum, err
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return sum, fmt.Errorf("staging charges: %w", err)
		}
	}
	close(batches)
	if err := <-copied; err != nil {
		return sum, fmt.Errorf("staging charges: %w", err)
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
		ON CONFLICT (job_row, portion_start) DO UPDATE SET portion_end = EXCLUDED.portion_end, period_id = EXCLUDED.period_id,
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
	sum.Written, sum.Unchanged = written, sum.Charges-written
	if err := tx.Commit(ctx); err != nil {
		return sum, err
	}
	sum.Took = time.Since(began)
	return sum, nil
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

// chanSource feeds COPY from a channel of row batches.
type chanSource struct {
	in  <-chan [][]any
	cur [][]any
	row []any
}

func (c *chanSource) Next() bool {
	for len(c.cur) == 0 {
		b, ok := <-c.in
		if !ok {
			return false
		}
		c.cur = b
	}
	c.row, c.cur = c.cur[0], c.cur[1:]
	return true
}
func (c *chanSource) Values() ([]any, error) { return c.row, nil }
func (c *chanSource) Err() error             { return nil }
