package jobstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunRow is one ingest run as the ingest page lists it.
type RunRow struct {
	Cluster                           string
	Started, WindowStart, WindowEnd   time.Time
	Source, Fallback, Trigger         string
	New, Changed, Unchanged, Rejected int
	Took                              time.Duration
	Error                             string
}

// RecentRuns lists ingest runs, newest first.
func RecentRuns(ctx context.Context, q Querier, limit, offset int) ([]RunRow, error) {
	rows, err := q.Query(ctx, `SELECT cluster, started_at, window_start, window_end, source, fallback_reason, trigger,
		jobs_new, jobs_changed, jobs_unchanged, jobs_rejected, finished_at - started_at, error
		FROM ingest_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("ingest runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RunRow, error) {
		var run RunRow
		return run, r.Scan(&run.Cluster, &run.Started, &run.WindowStart, &run.WindowEnd, &run.Source, &run.Fallback, &run.Trigger,
			&run.New, &run.Changed, &run.Unchanged, &run.Rejected, &run.Took, &run.Error)
	})
	if err != nil {
		return nil, fmt.Errorf("ingest runs: %w", err)
	}
	return out, nil
}

// LastError is the newest run that failed, and why; ok is false when none has.
func LastError(ctx context.Context, q Querier, cluster string) (at time.Time, msg string, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT started_at, error FROM ingest_runs WHERE error <> '' AND `+ofCluster+` ORDER BY id DESC LIMIT 1`, cluster).Scan(&at, &msg)
	if errors.Is(err, pgx.ErrNoRows) {
		return at, "", false, nil
	}
	if err != nil {
		return at, "", false, fmt.Errorf("last ingest error: %w", err)
	}
	return at, msg, true, nil
}

// RejectRow is one record ingest held back.
type RejectRow struct {
	RunID int64
	Line  int
	Error string
	Raw   string // the first 300 characters of the record
}

// RecentRejects lists the newest rejected records.
func RecentRejects(ctx context.Context, q Querier, limit int) ([]RejectRow, error) {
	rows, err := q.Query(ctx, `SELECT run_id, line_no, error, left(raw, 300) FROM ingest_rejects ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("ingest rejects: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RejectRow, error) {
		var rj RejectRow
		return rj, r.Scan(&rj.RunID, &rj.Line, &rj.Error, &rj.Raw)
	})
	if err != nil {
		return nil, fmt.Errorf("ingest rejects: %w", err)
	}
	return out, nil
}

// Freshness is how current the ingested records are, for /metrics.
type Freshness struct {
	LastSuccess  *time.Time // when the last good window was committed
	RecordsUntil *time.Time // the end of the newest good window
	FailedSince  int64      // windows no source could serve since then
	Rejected     int64      // records held back, ever
	// FallbackSince counts the good windows read with sacct because
	// slurmrestd failed, since the last one slurmrestd served; LastFallback
	// says why the newest of them fell back.
	FallbackSince int64
	LastFallback  string
}

// freshnessSQL answers from the partial indexes of migration 00015: every
// /metrics scrape runs it, so no part of it may read the whole table.
const freshnessSQL = `WITH ok AS (
		SELECT (SELECT max(finished_at) FROM ingest_runs WHERE ` + GoodWindow + ` AND ` + ofCluster + `) AS finished,
		       (SELECT max(window_end) FROM ingest_runs WHERE ` + GoodWindow + ` AND ` + ofCluster + `) AS until,
		       coalesce((SELECT max(id) FROM ingest_runs WHERE ` + GoodWindow + ` AND source = 'rest' AND ` + ofCluster + `), 0) AS last_rest)
	SELECT ok.finished, ok.until,
	       (SELECT count(*) FROM ingest_runs r WHERE r.source = 'none' AND r.trigger <> 'login' AND ` + ofCluster + `
	          AND r.started_at > coalesce(ok.finished, '-infinity')),
	       (SELECT coalesce(sum(jobs_rejected), 0) FROM ingest_runs WHERE jobs_rejected > 0 AND ` + ofCluster + `),
	       (SELECT count(*) FROM ingest_runs WHERE ` + GoodWindow + ` AND fallback_reason <> '' AND id > ok.last_rest AND ` + ofCluster + `),
	       coalesce((SELECT fallback_reason FROM ingest_runs WHERE ` + GoodWindow + ` AND fallback_reason <> '' AND ` + ofCluster + `
	                 ORDER BY id DESC LIMIT 1), '')
	FROM ok`

// ofCluster limits a query of ingest_runs to the cluster in $1 ("": all).
const ofCluster = `($1 = '' OR cluster = $1)`

// ReadFreshness reads Freshness in one query, of one cluster ("": all).
func ReadFreshness(ctx context.Context, q Querier, cluster string) (Freshness, error) {
	var f Freshness
	err := q.QueryRow(ctx, freshnessSQL, cluster).Scan(&f.LastSuccess, &f.RecordsUntil, &f.FailedSince, &f.Rejected, &f.FallbackSince, &f.LastFallback)
	if err != nil {
		return f, fmt.Errorf("ingest freshness: %w", err)
	}
	return f, nil
}

// CoordinatedAccounts lists the accounts Slurm's associations make user a
// coordinator of, on cluster ("" for any).
func CoordinatedAccounts(ctx context.Context, q Querier, cluster, user string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT account FROM slurm_coordinators
		WHERE username = $1 AND ($2 = '' OR cluster = $2) ORDER BY account`, user, cluster)
	if err != nil {
		return nil, fmt.Errorf("coordinators: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("coordinators: %w", err)
	}
	return out, nil
}
