package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgstats"
)

// refreshUsageSQL recomputes usage_daily for the jobs that ended in
// [$1, $2), whole days.
const refreshUsageSQL = `INSERT INTO usage_daily
SELECT (j.end_time AT TIME ZONE 'UTC')::date, j.cluster, j.username, j.account, j.partition, j.qos, j.state, count(*),
       sum(j.req_cpu * j.elapsed_seconds), sum(j.req_gpu * j.elapsed_seconds), sum(j.cpu_time_us),
       coalesce(sum(c.total), 0), coalesce(sum(c.idle), 0), coalesce(max(c.currency), '')
FROM jobs j
LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, sum(idle_micros) AS idle, max(currency) AS currency
                   FROM job_charges WHERE job_row = j.id) c ON true
WHERE j.end_time >= $1 AND j.end_time < $2
GROUP BY 1, 2, 3, 4, 5, 6, 7`

// RefreshUsage rebuilds the daily usage rollup for the days from..to
// (inclusive of both days; zero times mean every day).
func (s *Store) RefreshUsage(ctx context.Context, from, to time.Time) error {
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
func (s *Store) refreshUsageDays(ctx context.Context, days []time.Time) error {
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

func (s *Store) refreshUsage(ctx context.Context, ranges []dayRange, days ...time.Time) error {
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

// usageTable is the rollup a query in scope reads: the cluster-wide one
// when no person is asked for (admins, finance), else the one per person.
func usageTable(sc Scope, f JobFilter, byUser bool) string {
	if sc.All && f.User == "" && !byUser {
		return "usage_daily_all u"
	}
	return "usage_daily u"
}

// usageWhere renders scope and filter as conditions on the rollup u for
// days [f.From, f.To) (whole days).
func usageWhere(sc Scope, f JobFilter) (string, []any) {
	args := []any{}
	conds := []string{}
	if !sc.All {
		args = append(args, sc.User)
		cond := fmt.Sprintf("u.username = $%d", len(args))
		if len(sc.Accounts) > 0 {
			args = append(args, sc.Accounts)
			cond = fmt.Sprintf("(%s OR u.account = ANY($%d))", cond, len(args))
		}
		conds = append(conds, cond)
	}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if !f.From.IsZero() {
		add("u.day >= $?::date", f.From.UTC())
	}
	if !f.To.IsZero() {
		// A bound inside a day includes that day.
		to := f.To.UTC()
		if !to.Equal(to.Truncate(24 * time.Hour)) {
			to = to.Truncate(24*time.Hour).AddDate(0, 0, 1)
		}
		add("u.day < $?::date", to)
	}
	if f.User != "" {
		add("u.username = $?", f.User)
	}
	if f.Account != "" {
		add("u.account = $?", f.Account)
	}
	if len(conds) == 0 {
		return "TRUE", args
	}
	return strings.Join(conds, " AND "), args
}

// Summarize totals jobs that ended in [from, to) within scope.
func (s *Store) Summarize(ctx context.Context, sc Scope, f JobFilter) (Summary, error) {
	where, args := usageWhere(sc, f)
	var sum Summary
	var coreSec, gpuSec, cpuUs int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0)::bigint, coalesce(sum(core_seconds), 0)::bigint, coalesce(sum(gpu_seconds), 0)::bigint,
			coalesce(sum(total_micros), 0)::bigint, coalesce(sum(idle_micros), 0)::bigint, coalesce(sum(cpu_time_us), 0)::bigint,
			coalesce(max(currency), '')
		FROM `+usageTable(sc, f, false)+` WHERE `+where, args...).Scan(&sum.Jobs, &coreSec, &gpuSec, &sum.Total, &sum.Idle, &cpuUs, &sum.Currency)
	if err != nil {
		return sum, err
	}
	sum.CoreHours = hours(coreSec)
	sum.GPUHours = hours(gpuSec)
	if coreSec > 0 {
		sum.EfficiencyPPM = cpuUs / coreSec
	}
	return sum, nil
}

// DailyCosts returns charges per day (by job end) in [from, to).
func (s *Store) DailyCosts(ctx context.Context, sc Scope, f JobFilter) ([]DayCost, error) {
	where, args := usageWhere(sc, f)
	rows, err := s.pool.Query(ctx, `SELECT u.day::timestamp, sum(total_micros)::bigint, sum(jobs)::bigint
		FROM `+usageTable(sc, f, false)+` WHERE `+where+` GROUP BY 1 ORDER BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DayCost
	for rows.Next() {
		var d DayCost
		var total int64
		if err := rows.Scan(&d.Day, &total, &d.Jobs); err != nil {
			return nil, err
		}
		d.Day = d.Day.UTC()
		d.Total = billing.Micros(total)
		out = append(out, d)
	}
	return out, rows.Err()
}

// TotalsBy groups charges of jobs ended in [from, to) by "account",
// "user" or "partition".
func (s *Store) TotalsBy(ctx context.Context, sc Scope, by string, f JobFilter) ([]AccountTotals, error) {
	col := "u.account"
	switch by {
	case "user":
		col = "u.username"
	case "partition":
		col = "u.partition"
	}
	where, args := usageWhere(sc, f)
	rows, err := s.pool.Query(ctx, `SELECT `+col+`, sum(jobs)::bigint, sum(total_micros)::bigint
		FROM `+usageTable(sc, f, by == "user")+` WHERE `+where+` GROUP BY 1 ORDER BY 3 DESC, 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountTotals
	for rows.Next() {
		var a AccountTotals
		var total int64
		if err := rows.Scan(&a.Name, &a.Jobs, &total); err != nil {
			return nil, err
		}
		a.Total = billing.Micros(total)
		out = append(out, a)
	}
	return out, rows.Err()
}
