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
// tables are not analysed on every write. It returns the tables analysed.
func AnalyzeStale(ctx context.Context, db Execer, tables ...string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname = ANY($1)
		  AND n_mod_since_analyze > 1000 + n_live_tup / 5`, tables)
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
