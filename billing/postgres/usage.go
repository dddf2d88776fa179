package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
)

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
	if f.Cluster != "" {
		add("u.cluster = $?", f.Cluster)
	}
	if sc.Cluster != "" {
		add("u.cluster = $?", sc.Cluster)
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
func (s *ReportStore) Summarize(ctx context.Context, sc Scope, f JobFilter) (_ Summary, err error) {
	defer annotate(&err, "summarising usage")
	where, args := usageWhere(sc, f)
	var sum Summary
	var coreSec, gpuSec, cpuUs int64
	err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0)::bigint, coalesce(sum(core_seconds), 0)::bigint, coalesce(sum(gpu_seconds), 0)::bigint,
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
func (s *ReportStore) DailyCosts(ctx context.Context, sc Scope, f JobFilter) (_ []DayCost, err error) {
	defer annotate(&err, "reading daily charges")
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
func (s *ReportStore) TotalsBy(ctx context.Context, sc Scope, by string, f JobFilter) (_ []AccountTotals, err error) {
	defer annotate(&err, "adding up by %s", by)
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
