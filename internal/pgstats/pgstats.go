// Package pgstats keeps the planner's statistics fresh after bulk writes.
//
// PostgreSQL's autovacuum analyses a table once a tenth of it has changed,
// within a minute or so; where autovacuum is off, or in the minute after a
// large first load, the planner sees an empty table and can choose plans
// hundreds of times too costly (an export that should take 60 ms took
// 360 ms). After a bulk write Tally asks for the same rule itself.
package pgstats

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer is a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// AnalyzeStale analyses those of tables (in the current schema) changed by
// more than a fifth since their last analysis, plus 1,000 rows so small
// tables are not analysed on every write. A partitioned table is looked at
// partition by partition (PostgreSQL keeps no such counts for the parent),
// and only its stale partitions are analysed: the month an ingest wrote,
// not ten years of history. It returns the tables analysed.
func AnalyzeStale(ctx context.Context, db Execer, tables ...string) ([]string, error) {
	return analyzeStale(ctx, db, 1000, tables...)
}

// AnalyzeStaleSmall is AnalyzeStale for small tables whose few rows decide
// a plan: ten changed rows, not a thousand, plus a fifth. wasteful_jobs
// holds a hundred keys where jobs holds a hundred thousand; without
// statistics the planner guessed 1,850 of them and scanned an account's
// jobs (14 ms) instead of looking up the 94 (2 ms).
func AnalyzeStaleSmall(ctx context.Context, db Execer, tables ...string) ([]string, error) {
	return analyzeStale(ctx, db, 10, tables...)
}

func analyzeStale(ctx context.Context, db Execer, base int, tables ...string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT s.relname FROM pg_stat_user_tables s
		WHERE s.schemaname = current_schema()
		  AND (s.relname = ANY($1) OR s.relid IN (
		      SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
		      WHERE p.relname = ANY($1) AND p.relnamespace = current_schema()::regnamespace))
		  AND s.n_mod_since_analyze > $2 + s.n_live_tup / 5
		ORDER BY s.relname`, tables, base)
	if err != nil {
		return nil, err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, t := range stale {
		if _, err := db.Exec(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize()); err != nil {
			return nil, err
		}
	}
	return stale, nil
}
