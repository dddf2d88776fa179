package jobstore

import (
	"context"
	"fmt"
	"time"
)

// MonthsAhead is how many months past the current one have their job
// partitions made before any record of them arrives.
const MonthsAhead = 2

// MakeMonths makes the monthly partitions of jobs and job_charges for every
// month from from's to to's that lacks them, and returns how many it made.
// Ingest makes a window's months itself; this keeps the coming months
// ready so that the first window of a month does not make one mid-write.
func MakeMonths(ctx context.Context, db execer, from, to time.Time) (int, error) {
	var made int
	if err := db.QueryRow(ctx, `SELECT ensure_month_partitions($1, $2)`, from, to).Scan(&made); err != nil {
		return 0, fmt.Errorf("monthly partitions %s to %s: %w", from.Format("2006-01"), to.Format("2006-01"), err)
	}
	return made, nil
}

// MakeMonthsAhead makes the partitions of the current month and the
// MonthsAhead after it.
func MakeMonthsAhead(ctx context.Context, db execer, now time.Time) (int, error) {
	return MakeMonths(ctx, db, now, now.AddDate(0, MonthsAhead, 0))
}
