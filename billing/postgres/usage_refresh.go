package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/internal/pgstats"
)

// usageRows selects usage_daily's rows (day, grouping columns, sums) for
// the jobs of the table jobs that match cond, with their charges from the
// table charges: the live tables, or an archived month's partitions.
func usageRows(jobs, charges, cond string) string {
	return `SELECT (j.end_time AT TIME ZONE 'UTC')::date AS day, j.cluster, j.username, j.account, j.partition, j.qos, j.state,
       count(*) AS jobs, sum(j.req_cpu * j.elapsed_seconds) AS core_seconds, sum(j.req_gpu * j.elapsed_seconds) AS gpu_seconds,
       sum(j.cpu_time_us) AS cpu_time_us, coalesce(sum(c.total), 0) AS total_micros, coalesce(sum(c.idle), 0) AS idle_micros,
       coalesce(max(c.currency), '') AS currency
FROM ` + jobs + ` j
LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, sum(idle_micros) AS idle, max(currency) AS currency
                   FROM ` + charges + ` WHERE job_row = j.id AND job_submit = j.submit_time) c ON true
WHERE ` + cond + `
GROUP BY 1, 2, 3, 4, 5, 6, 7`
}

// refreshUsageSQL recomputes usage_daily for the jobs that ended in
// [$1, $2), whole days: the attached jobs, and what archived months'
// jobs added to those days (usage_daily_archived, kept by tally archive),
// so that a day rebuilt after its jobs were archived keeps them.
var refreshUsageSQL = `INSERT INTO usage_daily
SELECT day, cluster, username, account, partition, qos, state, sum(jobs), sum(core_seconds), sum(gpu_seconds), sum(cpu_time_us),
       sum(total_micros), sum(idle_micros), max(currency)
FROM (` + usageRows("jobs", "job_charges", "j.end_time >= $1 AND j.end_time < $2") + `
      UNION ALL
      SELECT day, cluster, username, account, partition, qos, state, jobs, core_seconds, gpu_seconds, cpu_time_us,
             total_micros, idle_micros, currency
      FROM usage_daily_archived
      WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date) u
GROUP BY 1, 2, 3, 4, 5, 6, 7`

// RefreshUsage rebuilds the daily usage rollup for the days from..to
// (inclusive of both days; zero times mean every day).
func (s *RatingStore) RefreshUsage(ctx context.Context, from, to time.Time) (err error) {
	defer annotate(&err, "refreshing daily usage")
	if from.IsZero() {
		from = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if to.IsZero() {
		to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return s.refreshUsage(ctx, []dayRange{{day(from), day(to).AddDate(0, 0, 1)}})
}

// refreshUsageDays rebuilds the rollup for the given days (any order,
// duplicates allowed) and for the days updates left stale (migration
// 00012), a run of adjacent days at a time: a change on an old day and
// one today cost two days, not every day between.
func (s *RatingStore) refreshUsageDays(ctx context.Context, days []time.Time) error {
	return s.refreshUsage(ctx, nil, days...)
}

type dayRange struct{ from, to time.Time } // [from, to), whole UTC days

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// dayRanges groups days into runs of adjacent days.
func dayRanges(days []time.Time) []dayRange {
	rs := make([]dayRange, 0, len(days))
	for _, d := range days {
		rs = append(rs, dayRange{day(d), day(d).AddDate(0, 0, 1)})
	}
	return mergeRanges(rs)
}

// mergeRanges sorts ranges and joins those that overlap or touch, so no
// day is rebuilt twice.
func mergeRanges(rs []dayRange) []dayRange {
	slices.SortFunc(rs, func(a, b dayRange) int { return a.from.Compare(b.from) })
	var out []dayRange
	for _, r := range rs {
		if n := len(out); n > 0 && !r.from.After(out[n-1].to) {
			if r.to.After(out[n-1].to) {
				out[n-1].to = r.to
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func (s *RatingStore) refreshUsage(ctx context.Context, ranges []dayRange, days ...time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(usageLock)); err != nil {
			return err
		}
		// Taken in the same transaction as the refresh: a failed refresh
		// leaves them for the next.
		rows, _ := tx.Query(ctx, `DELETE FROM usage_stale_days RETURNING day`)
		stale, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return fmt.Errorf("stale days: %w", err)
		}
		for _, r := range mergeRanges(append(ranges, dayRanges(append(days, stale...))...)) {
			if err := refreshRange(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, _ = pgstats.AnalyzeStale(ctx, s.pool, "usage_daily", "usage_daily_all")
	}
	return err
}

func refreshRange(ctx context.Context, tx pgx.Tx, r dayRange) error {
	if _, err := tx.Exec(ctx, `DELETE FROM usage_daily WHERE day >= $1::date AND day < $2::date`, r.from, r.to); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, refreshUsageSQL, r.from, r.to); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM usage_daily_all WHERE day >= $1::date AND day < $2::date`, r.from, r.to); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO usage_daily_all
		SELECT day, cluster, account, partition, qos, state, sum(jobs), sum(core_seconds), sum(gpu_seconds), sum(cpu_time_us),
		       sum(total_micros), sum(idle_micros), max(currency)
		FROM usage_daily WHERE day >= $1::date AND day < $2::date GROUP BY 1, 2, 3, 4, 5, 6`, r.from, r.to)
	return err
}

// usageLock serialises rollup refreshes between replicas.
const usageLock = 0x7461_6c6c_7975 // "tallyu"
