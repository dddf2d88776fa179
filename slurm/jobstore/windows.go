package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// GoodWindow is the one rule for an ingest window whose records count:
// one that read a source (not a failed run), was not a dry run, and read
// the whole cluster (not one person's refresh at sign-in). Every question
// of "how far are the records complete" (the scheduler's next window, the
// ingest page, the dashboard, /metrics, a period's gaps, a resumed
// back-fill) goes through it.
const GoodWindow = `source <> 'none' AND NOT dry_run AND trigger <> 'login'`

// Querier is what reading windows needs: a pool, a connection or a
// transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LastGoodWindow is the end of the newest good window (nil: none yet).
//
// Of one cluster, or, with cluster "", of the whole installation: the
// earliest of the clusters' last good windows (of those ingested in the
// last 30 days, so that a retired cluster does not hold it back), since
// records are complete everywhere only up to there.
func LastGoodWindow(ctx context.Context, q Querier, cluster string) (*time.Time, error) {
	var last *time.Time
	query := `SELECT max(window_end) FROM ingest_runs WHERE ` + GoodWindow + ` AND cluster = $1`
	if cluster == "" {
		query = `SELECT min(until) FROM (SELECT cluster, max(window_end) AS until FROM ingest_runs
			WHERE ` + GoodWindow + ` AND finished_at > now() - interval '30 days' GROUP BY cluster) c
			WHERE $1 = ''`
	}
	if err := q.QueryRow(ctx, query, cluster).Scan(&last); err != nil {
		return nil, fmt.Errorf("last good ingest window: %w", err)
	}
	if last == nil && cluster == "" {
		// Nothing in the last 30 days: the newest there is, if any.
		if err := q.QueryRow(ctx, `SELECT max(window_end) FROM ingest_runs WHERE `+GoodWindow).Scan(&last); err != nil {
			return nil, fmt.Errorf("last good ingest window: %w", err)
		}
	}
	return last, nil
}

// Span is a span of time an ingest run read.
type Span struct{ Start, End time.Time }

// GoodWindows lists the good windows overlapping [from, to), oldest first,
// of one cluster ("" for every cluster).
func GoodWindows(ctx context.Context, q Querier, cluster string, from, to time.Time) ([]Span, error) {
	rows, err := q.Query(ctx, `SELECT window_start, window_end FROM ingest_runs
		WHERE `+GoodWindow+` AND ($1 = '' OR cluster = $1) AND window_end > $2 AND window_start < $3
		ORDER BY window_start`, cluster, from, to)
	if err != nil {
		return nil, fmt.Errorf("ingest windows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Span, error) {
		var w Span
		return w, r.Scan(&w.Start, &w.End)
	})
	if err != nil {
		return nil, fmt.Errorf("ingest windows: %w", err)
	}
	return out, nil
}
