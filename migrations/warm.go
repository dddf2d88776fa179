package migrations

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// WarmConnection plans, without running, a query that reads every
// partition of jobs and job_charges with their indexes, so that a new
// connection loads their catalog entries once, when it is opened, and not
// during the first page a person asks for on it: with the months of
// history partitioned (migration 00020) that first planning took 15-50 ms,
// and the short soak's rare filtered job list met it on most of its
// connections. Used as pgxpool's AfterConnect; it never fails a
// connection (before the schema exists there is nothing to warm).
func WarmConnection(ctx context.Context, conn *pgx.Conn) error {
	_, _ = conn.Exec(ctx, `EXPLAIN SELECT j.id, c.total FROM (SELECT * FROM jobs j WHERE j.username = '' AND j.account = ''
		ORDER BY j.end_time DESC NULLS LAST, j.id DESC LIMIT 1) j
		LEFT JOIN LATERAL (SELECT sum(total_micros) AS total FROM job_charges WHERE job_row = j.id AND job_submit = j.submit_time
		  AND period_id = 0 AND account = '' AND username = '' AND portion_end > now()) c ON true`)
	return nil
}
