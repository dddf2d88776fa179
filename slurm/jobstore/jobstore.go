// Package jobstore keeps Slurm job records in PostgreSQL: idempotent bulk
// upserts per ingest window, the ingest run log, rejects and associations.
package jobstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgcopy"
	"github.com/tally-hpc/tally/internal/pgstats"
	"github.com/tally-hpc/tally/slurm"
)

// Store writes and reads job records.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Counts is what a window changed.
type Counts struct {
	New, Changed, Unchanged, Rejected int
}

// Total is every record the window held.
func (c Counts) Total() int { return c.New + c.Changed + c.Unchanged }

// Add sums counts.
func (c *Counts) Add(o Counts) {
	c.New += o.New
	c.Changed += o.Changed
	c.Unchanged += o.Unchanged
	c.Rejected += o.Rejected
}

// Run describes one ingested window for the run log.
type Run struct {
	Cluster        string
	WindowStart    time.Time
	WindowEnd      time.Time
	Source         string // rest, sacct or none
	FallbackReason string
	Trigger        string
	Started        time.Time
	DryRun         bool
	Error          string
}

// Window is one transaction's worth of records: staged as they stream in,
// merged at Commit. Nothing is visible to readers until then, so a failed
// source leaves no partial window behind.
type Window struct {
	tx       pgx.Tx
	pool     *pgxpool.Pool
	source   string
	seq      int64
	rejects  []slurm.Reject
	rejected int

	// Records stream to Postgres through one COPY running beside the
	// parser, so decoding and writing use both cores.
	copy *pgcopy.Stream
}

// maxStoredRejects bounds the rejects kept per window; the count is exact.
const maxStoredRejects = 10000

// Begin starts a window whose records come from source.
func (s *Store) Begin(ctx context.Context, source string) (*Window, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `CREATE TEMP TABLE jobs_staging ON COMMIT DROP AS SELECT `+columnsNoSeq+` FROM jobs WITH NO DATA;
		ALTER TABLE jobs_staging ADD COLUMN seq bigint`)
	if err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("staging table: %w", err)
	}
	return &Window{tx: tx, pool: s.pool, source: source, copy: pgcopy.Start(ctx, tx, "jobs_staging", stagingColumns())}, nil
}

func stagingColumns() []string {
	return []string{
		"cluster", "job_id", "submit_time", "array_job_id", "array_task_id", "het_job_id", "het_offset",
		"name", "username", "account", "partition", "qos", "state", "reason", "exit_code", "exit_signal",
		"eligible_time", "start_time", "end_time", "elapsed_seconds", "time_limit_minutes", "suspended_seconds",
		"cpu_time_us", "req_cpu", "req_mem_mib", "req_nodes", "req_billing", "req_gpu", "req_gpu_types",
		"alloc_cpu", "alloc_mem_mib", "alloc_nodes", "alloc_billing", "alloc_gpu", "alloc_gpu_types", "alloc_energy_j",
		"node_list", "step_count", "steps", "content_hash", "source", "seq",
	}
}

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func gpuTypes(m map[string]int64) []byte {
	if len(m) == 0 {
		return []byte("{}")
	}
	b, _ := json.Marshal(m)
	return b
}

// Add stages one record.
func (w *Window) Add(ctx context.Context, j slurm.Job) error {
	row, err := Row(j, w.source)
	if err != nil {
		return err
	}
	w.seq++
	if err := w.copy.Add(append(row, w.seq)); err != nil {
		return fmt.Errorf("copy into staging: %w", err)
	}
	return nil
}

// Columns are the jobs table's columns Row fills, in its order.
func Columns() []string {
	cols := strings.Split(columnsNoSeq, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	return cols
}

// Row is a record as the jobs table stores it, in Columns' order.
func Row(j slurm.Job, source string) ([]any, error) {
	steps := []byte("[]")
	if len(j.Steps) > 0 {
		var err error
		if steps, err = json.Marshal(j.Steps); err != nil {
			return nil, err
		}
	}
	var exit any
	if j.ExitCode != nil {
		exit = int32(*j.ExitCode)
	}
	return []any{
		j.Cluster, j.JobID, j.Submit, j.ArrayJobID, j.ArrayTaskID, j.HetJobID, j.HetOffset,
		j.Name, j.User, j.Account, j.Partition, j.QOS, j.State, j.Reason, exit, int32(j.ExitSignal),
		ts(j.Eligible), ts(j.Start), ts(j.End), j.ElapsedSeconds, j.TimeLimitMinutes, j.SuspendedSeconds,
		j.CPUTimeMicros, j.Requested.CPU, j.Requested.MemMiB, j.Requested.Nodes, j.Requested.Billing, j.Requested.GPU, gpuTypes(j.Requested.GPUByType),
		j.Allocated.CPU, j.Allocated.MemMiB, j.Allocated.Nodes, j.Allocated.Billing, j.Allocated.GPU, gpuTypes(j.Allocated.GPUByType), j.Allocated.EnergyJ,
		j.NodeList, int32(j.StepCount), steps, j.Hash(), source,
	}, nil
}

// Reject records an unreadable line or record.
func (w *Window) Reject(r slurm.Reject) {
	w.rejected++
	if len(w.rejects) < maxStoredRejects {
		w.rejects = append(w.rejects, r)
	}
}

// mergeSQL moves staged records into jobs. A record seen twice in one
// window keeps its last, most complete version; an existing row is only
// rewritten when its content changed.
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
    RETURNING (first_seen = updated_at) AS inserted -- both now() only when inserted by this transaction (xmax cannot be read from a partitioned table)
)
SELECT (SELECT count(*) FROM staged),
       count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted)
FROM merged`

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
	if err := w.copy.Finish(); err != nil {
		return Counts{}, fmt.Errorf("copy into staging: %w", err)
	}
	// The merge sorts the window to keep one version of each record; with
	// the default 4 MB of work_mem a 100,000-record window spills to disk.
	if _, err := w.tx.Exec(ctx, `SET LOCAL work_mem = '128MB'`); err != nil {
		return Counts{}, err
	}
	// jobs is partitioned by submit month: the window's months need their
	// partitions (made ahead by the scheduler; a back-fill makes older ones).
	// Only the months its records were submitted in: a window holding a
	// job submitted in September and one in December must not ask for an
	// archived October between them.
	if _, err := w.tx.Exec(ctx, `SELECT ensure_month_partitions(m, m)
		FROM (SELECT DISTINCT date_trunc('month', submit_time, 'UTC') AS m FROM jobs_staging) s ORDER BY m`); err != nil {
		return Counts{}, fmt.Errorf("partitions for the window's months: %w", err)
	}
	var staged, inserted, updated int
	if err := w.tx.QueryRow(ctx, mergeSQL).Scan(&staged, &inserted, &updated); err != nil {
		return Counts{}, fmt.Errorf("merge: %w", err)
	}
	c := Counts{New: inserted, Changed: updated, Unchanged: staged - inserted - updated, Rejected: w.rejected}
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
	if c.New+c.Changed > 1000 {
		// The window is saved; fresh statistics only help the pages after it.
		_, _ = pgstats.AnalyzeStale(ctx, w.pool, "jobs")
	}
	return c, nil
}

// Abort drops everything staged.
func (w *Window) Abort() {
	w.copy.Abort()
	w.tx.Rollback(context.Background())
}

type execer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertRun(ctx context.Context, db execer, run Run, c Counts) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO ingest_runs (cluster, window_start, window_end, source, fallback_reason, trigger,
		started_at, finished_at, jobs_new, jobs_changed, jobs_unchanged, jobs_rejected, dry_run, error)
		VALUES ($1,$2,$3,$4,$5,$6,$7, greatest(now(), $7), $8,$9,$10,$11,$12,$13) RETURNING id`,
		run.Cluster, run.WindowStart, run.WindowEnd, run.Source, slurm.CleanText(run.FallbackReason), run.Trigger, run.Started,
		c.New, c.Changed, c.Unchanged, c.Rejected, run.DryRun, slurm.CleanText(run.Error)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("run log: %w", err)
	}
	return id, nil
}

// RecordFailure logs a window that no source could serve.
func (s *Store) RecordFailure(ctx context.Context, run Run) error {
	run.Source = "none"
	_, err := insertRun(ctx, s.pool, run, Counts{})
	return err
}

// Pool exposes the pool for tests and read paths built on the store.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ReplaceAssociations makes the stored associations and coordinators of
// cluster exactly these, in one transaction.
func (s *Store) ReplaceAssociations(ctx context.Context, cluster string, as []slurm.Association, cs []slurm.Coordinator) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM slurm_associations WHERE cluster = $1`, cluster); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM slurm_coordinators WHERE cluster = $1`, cluster); err != nil {
			return err
		}
		seen := map[[2]string]bool{}
		for _, a := range as {
			c := a.Cluster
			if c == "" {
				c = cluster
			}
			if c != cluster || seen[[2]string{a.Account, a.User}] {
				continue
			}
			seen[[2]string{a.Account, a.User}] = true
			if _, err := tx.Exec(ctx, `INSERT INTO slurm_associations (cluster, account, username, is_default) VALUES ($1,$2,$3,$4)`,
				cluster, a.Account, a.User, a.Default); err != nil {
				return err
			}
		}
		for _, co := range cs {
			if _, err := tx.Exec(ctx, `INSERT INTO slurm_coordinators (cluster, account, username) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`,
				cluster, co.Account, co.User); err != nil {
				return err
			}
		}
		return nil
	})
}

// CommittedUntil is how far from `from` (up to `to`) the cluster's
// records are already in: the end of the unbroken run of successful,
// cluster-wide windows starting at or before from. An interrupted backfill
// resumes there instead of re-reading what it committed.
func (s *Store) CommittedUntil(ctx context.Context, cluster string, from, to time.Time) (time.Time, error) {
	windows, err := GoodWindows(ctx, s.pool, cluster, from, to)
	if err != nil {
		return from, err
	}
	cursor := from
	for _, w := range windows {
		ws, we := w.Start, w.End
		if ws.After(cursor) {
			break // a gap: nothing after it counts
		}
		if we.After(cursor) {
			cursor = we
		}
	}
	if cursor.After(to) {
		cursor = to
	}
	return cursor, nil
}
