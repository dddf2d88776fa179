package jobstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgstats"
	"github.com/tally-hpc/tally/slurm"
)

// Window is one transaction's worth of records. Nothing is visible to
// readers until Commit, so a failed source leaves no partial window behind.
//
// Most records of a window are new (a back-fill, the jobs that ended since
// the last run), and those are copied straight into jobs as they stream
// in: a writer goroutine takes chunks of records while the parser makes
// the next ones, asks which of a chunk's jobs are already stored, COPYs the
// rest into their month's partition and stages only the known ones (and a
// second sighting of a job within the window). Commit merges the staged
// records, usually a few, with the rules of an upsert. Parsing and writing
// so use both cores, and the database does a COPY's work for a new record
// instead of an upsert's (docs/performance.md has the figures).
type Window struct {
	tx       pgx.Tx
	pool     *pgxpool.Pool
	source   string
	seq      int64
	rejects  []slurm.Reject
	rejected int

	chunk   []record
	chunks  chan []record
	written chan error
	stop    context.CancelFunc
	done    bool

	// Owned by the writer goroutine until written has answered.
	seen    map[jobKey]bool // every job of the window; true: copied straight in
	direct  int             // jobs copied straight in
	months  map[int]bool    // months (year*12 + month) whose partitions this window made sure of
	locked  map[string]bool // clusters whose write lock this window holds
	staging bool            // the staging table exists
}

type record struct {
	key jobKey
	row []byte // appendRow's fields
	seq int64  // the order records arrived in, for the merge
}

// jobKey is a job's identity: the jobs_identity constraint.
type jobKey struct {
	cluster string
	jobID   int64
	submit  int64 // microseconds, PostgreSQL's precision
}

// chunkSize bounds the records in flight: the chunk being filled, two
// queued and the one being written. With 5,000 a 50 MB slurmrestd answer
// peaked at 67 MB of heap; with 2,000 at 33 MB, at the same speed.
const chunkSize = 2000

// maxStoredRejects bounds the rejects kept per window; the count is exact.
const maxStoredRejects = 10000

// writeLockClass is the first key of the transaction-level advisory lock a
// window takes per cluster before it copies records in (the second is the
// cluster's name hashed). Between asking which jobs are stored and copying
// the others in, another window of the same cluster (a scheduled run and
// a person's refresh) must not store the same job: the copy would fail.
const writeLockClass = 0x74616c6c // "tall"

// Begin starts a window whose records come from source.
func (s *Store) Begin(ctx context.Context, source string) (*Window, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	w := &Window{tx: tx, pool: s.pool, source: source, stop: stop,
		chunks: make(chan []record, 2), written: make(chan error, 1),
		seen: map[jobKey]bool{}, months: map[int]bool{}, locked: map[string]bool{}}
	go w.writer(wctx)
	return w, nil
}

// Add queues one record.
func (w *Window) Add(ctx context.Context, j slurm.Job) error {
	w.seq++
	w.chunk = append(w.chunk, record{key: jobKey{j.Cluster, j.JobID, j.Submit.UnixMicro()}, row: appendRow(nil, &j, w.source), seq: w.seq})
	if len(w.chunk) < chunkSize {
		return nil
	}
	return w.send(ctx)
}

func (w *Window) send(ctx context.Context) error {
	if len(w.chunk) == 0 {
		return nil
	}
	select {
	case w.chunks <- w.chunk:
		w.chunk = make([]record, 0, chunkSize)
		return nil
	case err := <-w.written:
		w.written <- err
		if err == nil {
			err = fmt.Errorf("window writer ended early")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer writes chunks until the channel closes or a write fails; after a
// failure it drains, so Add never blocks on a dead writer.
func (w *Window) writer(ctx context.Context) {
	for c := range w.chunks {
		if err := w.write(ctx, c); err != nil {
			go func() {
				for range w.chunks {
				}
			}()
			w.written <- err
			return
		}
	}
	w.written <- nil
}

// finish sends the last chunk and waits for the writer. A second call
// returns nil.
func (w *Window) finish(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.stop()
	err := w.send(ctx)
	close(w.chunks)
	werr := <-w.written
	if err != nil {
		return err
	}
	return werr
}

// write stores one chunk: new jobs straight into jobs, the rest staged.
func (w *Window) write(ctx context.Context, c []record) error {
	if err := w.prepare(ctx, c); err != nil {
		return err
	}
	stored, err := w.stored(ctx, c)
	if err != nil {
		return err
	}
	type staged struct {
		*record
		copied bool // an earlier sighting of the job was copied straight in
	}
	var direct []*record
	var stage []staged
	for i := range c {
		r := &c[i]
		copied, again := w.seen[r.key]
		switch {
		case again:
			// A second sighting in this window: the merge keeps the most
			// complete version.
			stage = append(stage, staged{r, copied})
		case stored[i]:
			w.seen[r.key] = false
			stage = append(stage, staged{r, false})
		default:
			w.seen[r.key] = true
			direct = append(direct, r)
		}
	}
	conn := w.tx.Conn().PgConn()
	if len(direct) > 0 {
		_, err := copyBinary(ctx, conn, "jobs", Columns(), func(b []byte) ([]byte, bool) {
			if len(direct) == 0 {
				return b, false
			}
			b = binary.BigEndian.AppendUint16(b, rowFields)
			b, direct = append(b, direct[0].row...), direct[1:]
			w.direct++
			return b, true
		})
		if err != nil {
			return fmt.Errorf("copy into jobs: %w", err)
		}
	}
	if len(stage) > 0 {
		if !w.staging {
			if _, err := w.tx.Exec(ctx, `CREATE TEMP TABLE jobs_staging ON COMMIT DROP AS SELECT `+columnsNoSeq+` FROM jobs WITH NO DATA;
				ALTER TABLE jobs_staging ADD COLUMN seq bigint, ADD COLUMN copied boolean`); err != nil {
				return fmt.Errorf("staging table: %w", err)
			}
			w.staging = true
		}
		_, err := copyBinary(ctx, conn, "jobs_staging", append(Columns(), "seq", "copied"), func(b []byte) ([]byte, bool) {
			if len(stage) == 0 {
				return b, false
			}
			s := stage[0]
			stage = stage[1:]
			b = binary.BigEndian.AppendUint16(b, rowFields+2)
			b = append(b, s.row...)
			return appendBool(appendInt8(b, s.seq), s.copied), true
		})
		if err != nil {
			return fmt.Errorf("copy into staging: %w", err)
		}
	}
	return nil
}

// prepare takes the write lock of the chunk's clusters and makes sure of
// its months' partitions (made ahead by the scheduler; a back-fill makes
// older ones). Only the months its records were submitted in: a window
// holding a job submitted in September and one in December must not ask
// for an archived October between them.
func (w *Window) prepare(ctx context.Context, c []record) error {
	for _, r := range c {
		if !w.locked[r.key.cluster] {
			if _, err := w.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(writeLockClass), r.key.cluster); err != nil {
				return fmt.Errorf("write lock for cluster %s: %w", r.key.cluster, err)
			}
			w.locked[r.key.cluster] = true
		}
		t := time.UnixMicro(r.key.submit).UTC()
		if month := t.Year()*12 + int(t.Month()); !w.months[month] {
			if _, err := MakeMonths(ctx, w.tx, t, t); err != nil {
				return err
			}
			w.months[month] = true
		}
	}
	return nil
}

// stored answers, for each record of c met for the first time in this
// window, whether its job is already in jobs.
func (w *Window) stored(ctx context.Context, c []record) ([]bool, error) {
	var clusters []string
	var ids []int64
	var submits []time.Time
	var at []int
	for i, r := range c {
		if _, again := w.seen[r.key]; !again {
			clusters, ids, submits = append(clusters, r.key.cluster), append(ids, r.key.jobID), append(submits, time.UnixMicro(r.key.submit))
			at = append(at, i)
		}
	}
	stored := make([]bool, len(c))
	if len(at) == 0 {
		return stored, nil
	}
	if none, err := w.noneStoredAround(ctx, clusters, ids, submits); err != nil || none {
		return stored, err
	}
	// Planned afresh each time (not a cached, prepared plan): a plan made
	// while a month's partition was empty reads it by a sequential scan,
	// and that partition fills as the window copies into it; at 10^6
	// records a cached plan made each lookup take seconds instead of ms.
	// One probe of the identity index a key (LATERAL … LIMIT 1): as a
	// semi-join the planner hashed a whole month's partition for a
	// scheduled window's hundred keys (56 ms where the probes take 1).
	rows, err := w.tx.Query(ctx, `SELECT k.n FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) WITH ORDINALITY AS k(cluster, job_id, submit_time, n)
		CROSS JOIN LATERAL (SELECT 1 FROM jobs j WHERE j.cluster = k.cluster AND j.job_id = k.job_id AND j.submit_time = k.submit_time LIMIT 1) found`,
		pgx.QueryExecModeExec, clusters, ids, submits)
	if err != nil {
		return nil, fmt.Errorf("which jobs are stored: %w", err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("which jobs are stored: %w", err)
	}
	for _, n := range ns {
		stored[at[n-1]] = true
	}
	return stored, nil
}

// noneStoredAround answers, by one index range probe per cluster, whether
// no stored job of these clusters lies within the span of these job ids
// and submit times; then none of these jobs is stored and the chunk needs
// no lookup key by key. That is most chunks of a back-fill, which reads
// months no window has read before.
func (w *Window) noneStoredAround(ctx context.Context, clusters []string, ids []int64, submits []time.Time) (bool, error) {
	type span struct {
		lo, hi      int64
		first, last time.Time
	}
	spans := map[string]*span{}
	for i, c := range clusters {
		sp := spans[c]
		if sp == nil {
			spans[c] = &span{ids[i], ids[i], submits[i], submits[i]}
			continue
		}
		sp.lo, sp.hi = min(sp.lo, ids[i]), max(sp.hi, ids[i])
		if submits[i].Before(sp.first) {
			sp.first = submits[i]
		}
		if submits[i].After(sp.last) {
			sp.last = submits[i]
		}
	}
	var cs []string
	var los, his []int64
	var firsts, lasts []time.Time
	for c, sp := range spans {
		cs, los, his, firsts, lasts = append(cs, c), append(los, sp.lo), append(his, sp.hi), append(firsts, sp.first), append(lasts, sp.last)
	}
	var any bool
	err := w.tx.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[]) AS s(cluster, lo, hi, first, last)
		WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = s.cluster AND j.job_id BETWEEN s.lo AND s.hi AND j.submit_time BETWEEN s.first AND s.last))`,
		pgx.QueryExecModeExec, cs, los, his, firsts, lasts).Scan(&any)
	if err != nil {
		return false, fmt.Errorf("which jobs are stored: %w", err)
	}
	return !any, nil
}

// Reject records an unreadable line or record.
func (w *Window) Reject(r slurm.Reject) {
	w.rejected++
	if len(w.rejects) < maxStoredRejects {
		w.rejects = append(w.rejects, r)
	}
}

// mergeSQL moves staged records into jobs. A job seen twice in one window
// keeps its last, most complete version: an ended one before one still
// running, then the later; that holds too against the version copied
// straight in earlier in the window (first_seen is now(): this
// transaction's). An existing row is only rewritten when its content
// changed.
const mergeSQL = `
WITH staged AS (
    SELECT DISTINCT ON (cluster, job_id, submit_time) *
    FROM jobs_staging
    ORDER BY cluster, job_id, submit_time, (end_time IS NULL), seq DESC
), merged AS (
    INSERT INTO jobs (` + columnsNoSeq + `)
    SELECT ` + columnsNoSeq + ` FROM staged
    ON CONFLICT (cluster, job_id, submit_time) DO UPDATE SET ` + updateSet + `, updated_at = now()
    WHERE jobs.content_hash <> EXCLUDED.content_hash
      AND NOT (jobs.first_seen = now() AND jobs.end_time IS NOT NULL AND EXCLUDED.end_time IS NULL)
    RETURNING cluster, job_id, submit_time, (first_seen = now()) AS new_in_window
)
SELECT count(*) FILTER (WHERE m.new_in_window AND NOT s.copied),
       count(*) FILTER (WHERE NOT m.new_in_window)
FROM merged m JOIN staged s USING (cluster, job_id, submit_time)`

const columnsNoSeq = `cluster, job_id, submit_time, array_job_id, array_task_id, het_job_id, het_offset,
	name, username, account, partition, qos, state, reason, exit_code, exit_signal,
	eligible_time, start_time, end_time, elapsed_seconds, time_limit_minutes, suspended_seconds,
	cpu_time_us, req_cpu, req_mem_mib, req_nodes, req_billing, req_gpu, req_gpu_types,
	alloc_cpu, alloc_mem_mib, alloc_nodes, alloc_billing, alloc_gpu, alloc_gpu_types, alloc_energy_j,
	node_list, step_count, steps, content_hash, source`

const updateSet = `array_job_id = EXCLUDED.array_job_id, array_task_id = EXCLUDED.array_task_id,
	het_job_id = EXCLUDED.het_job_id, het_offset = EXCLUDED.het_offset, name = EXCLUDED.name,
	username = EXCLUDED.username, account = EXCLUDED.account, partition = EXCLUDED.partition, qos = EXCLUDED.qos,
	state = EXCLUDED.state, reason = EXCLUDED.reason, exit_code = EXCLUDED.exit_code, exit_signal = EXCLUDED.exit_signal,
	eligible_time = EXCLUDED.eligible_time, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
	elapsed_seconds = EXCLUDED.elapsed_seconds, time_limit_minutes = EXCLUDED.time_limit_minutes,
	suspended_seconds = EXCLUDED.suspended_seconds, cpu_time_us = EXCLUDED.cpu_time_us,
	req_cpu = EXCLUDED.req_cpu, req_mem_mib = EXCLUDED.req_mem_mib, req_nodes = EXCLUDED.req_nodes,
	req_billing = EXCLUDED.req_billing, req_gpu = EXCLUDED.req_gpu, req_gpu_types = EXCLUDED.req_gpu_types,
	alloc_cpu = EXCLUDED.alloc_cpu, alloc_mem_mib = EXCLUDED.alloc_mem_mib, alloc_nodes = EXCLUDED.alloc_nodes,
	alloc_billing = EXCLUDED.alloc_billing, alloc_gpu = EXCLUDED.alloc_gpu, alloc_gpu_types = EXCLUDED.alloc_gpu_types,
	alloc_energy_j = EXCLUDED.alloc_energy_j, node_list = EXCLUDED.node_list, step_count = EXCLUDED.step_count,
	steps = EXCLUDED.steps, content_hash = EXCLUDED.content_hash, source = EXCLUDED.source`

// Commit merges the window, writes its run record and rejects, and commits
// (or, for a dry run, reports the counts and rolls back).
func (w *Window) Commit(ctx context.Context, run Run) (Counts, error) {
	defer w.tx.Rollback(context.Background())
	if err := w.finish(ctx); err != nil {
		return Counts{}, err
	}
	var inserted, updated int
	if w.staging {
		// The merge sorts the staged records to keep one version of each;
		// with the default 4 MB of work_mem a large one spills to disk.
		if _, err := w.tx.Exec(ctx, `SET LOCAL work_mem = '128MB'`); err != nil {
			return Counts{}, err
		}
		if err := w.tx.QueryRow(ctx, mergeSQL).Scan(&inserted, &updated); err != nil {
			return Counts{}, fmt.Errorf("merge: %w", err)
		}
	}
	c := Counts{New: w.direct + inserted, Changed: updated, Rejected: w.rejected}
	c.Unchanged = len(w.seen) - c.New - c.Changed
	runID, err := insertRun(ctx, w.tx, run, c)
	if err != nil {
		return c, err
	}
	if len(w.rejects) > 0 {
		rows := make([][]any, len(w.rejects))
		for i, r := range w.rejects {
			rows[i] = []any{runID, run.Source, int32(r.Line), r.Raw, r.Err} // already storable text: the parsers clean it
		}
		if _, err := w.tx.CopyFrom(ctx, pgx.Identifier{"ingest_rejects"}, []string{"run_id", "source", "line_no", "raw", "error"}, pgx.CopyFromRows(rows)); err != nil {
			return c, fmt.Errorf("rejects: %w", err)
		}
	}
	if run.DryRun {
		return c, nil
	}
	if err := w.tx.Commit(ctx); err != nil {
		return c, fmt.Errorf("commit: %w", err)
	}
	if c.New+c.Changed > 1000 && !run.DeferAnalysis {
		// The window is saved; fresh statistics only help the pages after it.
		_, _ = pgstats.AnalyzeStale(ctx, w.pool, "jobs")
	}
	return c, nil
}

// Abort drops everything written.
func (w *Window) Abort() {
	w.stop()
	w.finish(context.Background())
	w.tx.Rollback(context.Background())
}
