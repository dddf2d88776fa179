package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/replica"
)

// readPool is the pool of the stores that only read (reports, exports):
// their queries go to the read replica when the request may read from it
// (replica.Pool decides), else to the primary. It has no Exec or Begin on
// purpose: a store that writes must hold the primary pool.
type readPool struct{ primary *pgxpool.Pool }

func (p readPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return replica.Pool(ctx, p.primary).Query(ctx, sql, args...)
}

func (p readPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return replica.Pool(ctx, p.primary).QueryRow(ctx, sql, args...)
}
