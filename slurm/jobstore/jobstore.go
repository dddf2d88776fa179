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
	// DeferAnalysis leaves the statistics refresh to the caller, who will
	// run AnalyzeJobs once a run of many windows has ended (see
	// AnalysisPacer): a back-fill that analysed its growing month after
	// every window spent a sixth of its time in ANALYZE.
	DeferAnalysis bool
}

// ts is a time for pgx, NULL when zero.
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

// Columns are the jobs table's columns Row fills, in its order.
func Columns() []string {
	cols := strings.Split(columnsNoSeq, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	return cols
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
