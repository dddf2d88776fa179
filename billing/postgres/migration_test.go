package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/migrations"
)

// lastSingleClusterSchema is the newest migration of the releases whose
// statements had one line per component across clusters.
const lastSingleClusterSchema = 17

// sumsAsBefore reads a period's sums the way chargeSums did at schema
// 17 (charge_sums had no cluster), for one person or ("") everyone.
func sumsAsBefore(t *testing.T, pool *pgxpool.Pool, period int64, user string) []billing.ChargeSum {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT account, username, currency, component, jobs, exact_micros
			FROM charge_sums WHERE period_id = $1 AND ($2 = '' OR username = $2)
		UNION ALL
		SELECT account, username, '', $3, count(*)::bigint, sum(amount_micros)::bigint
			FROM adjustments WHERE period_id = $1 AND ($2 = '' OR username = $2) GROUP BY 1, 2`, period, user, billing.AdjustmentsComponent)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []billing.ChargeSum
	for rows.Next() {
		var s billing.ChargeSum
		var jobs, exact int64
		if err := rows.Scan(&s.Account, &s.User, &s.Currency, &s.Component, &jobs, &exact); err != nil {
			t.Fatal(err)
		}
		s.Jobs, s.Exact = int(jobs), billing.Micros(exact)
		out = append(out, s)
	}
	return out
}

// closeAsBefore closes a period as the close of schema 17 did: statements
// per account and component, hashed with version (1: lines only, before
// details were frozen; 2: with the details), lines without a cluster, the
// per-person totals, and the period closed.
func closeAsBefore(t *testing.T, pool *pgxpool.Pool, pol billing.Policy, name string, version int) {
	t.Helper()
	ctx := context.Background()
	var p Period
	if err := pool.QueryRow(ctx, `SELECT id, name, starts_at, ends_at FROM billing_periods WHERE name = $1`, name).Scan(&p.ID, &p.Name, &p.Starts, &p.Ends); err != nil {
		t.Fatal(err)
	}
	details := map[string]billing.AccountDetails{}
	rows, err := pool.Query(ctx, `SELECT account, display_name, pi, cost_centre, po_number FROM account_details`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		var d billing.AccountDetails
		rows.Scan(&a, &d.DisplayName, &d.PI, &d.CostCentre, &d.PONumber)
		details[a] = d
	}
	rows.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for i, st := range pol.BuildStatements(sumsAsBefore(t, pool, p.ID, "")) {
		st.Number = fmt.Sprintf("%s-%04d", p.Name, i+1)
		st.HashVersion = version
		if version >= 2 {
			st.Details = details[st.Account]
		}
		st.SHA256 = st.Hash(p)
		d := st.Details
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO statements (period_id, number, account, currency, jobs, total_micros, sha256, hash_version,
				display_name, pi, cost_centre, po_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			p.ID, st.Number, st.Account, st.Currency, st.Jobs, int64(st.Total), st.SHA256, version, d.DisplayName, d.PI, d.CostCentre, d.PONumber).Scan(&id); err != nil {
			t.Fatal(err)
		}
		for _, l := range st.Lines {
			if _, err := tx.Exec(ctx, `INSERT INTO statement_lines (statement_id, component, jobs, exact_micros, amount_micros) VALUES ($1, $2, $3, $4, $5)`,
				id, l.Component, l.Jobs, int64(l.Exact), int64(l.Amount)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO statement_users (period_id, account, username, jobs, exact_micros)
		SELECT $1, account, username, count(DISTINCT job_row), sum(total_micros) FROM job_charges
		WHERE period_id = $1 AND not_charged = '' GROUP BY 2, 3`, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = 'old release' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// storedRows is every row Tally keeps about jobs, charges and issued
// statements, as text: what an upgrade must leave exactly as it was.
func storedRows(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, q := range map[string]string{
		"jobs": `SELECT id, cluster, job_id, submit_time, account, username, content_hash FROM jobs ORDER BY id`,
		"job_charges": `SELECT job_row, portion_start, portion_end, period_id, cluster, account, username, rate_card_id, currency,
			total_micros, idle_micros, efficiency_ppm, not_charged, account_reason, lines::text, charge_hash, computed_at FROM job_charges ORDER BY 1, 2`,
		"statements": `SELECT id, period_id, number, account, currency, jobs, total_micros, sha256, hash_version,
			display_name, pi, cost_centre, po_number, created_at FROM statements ORDER BY id`,
		"statement_lines": `SELECT statement_id, component, jobs, exact_micros, amount_micros FROM statement_lines ORDER BY 1, 2`,
		"statement_users": `SELECT period_id, account, username, jobs, exact_micros FROM statement_users ORDER BY 1, 2, 3`,
		"billing_periods": `SELECT id, name, starts_at, ends_at, status, closed_at, closed_by FROM billing_periods ORDER BY id`,
		"adjustments":     `SELECT id, period_id, account, username, job_row, amount_micros, reason, author, created_at FROM adjustments ORDER BY id`,
		"rate_cards":      `SELECT id, name, version, cluster, currency, effective_from FROM rate_cards ORDER BY id`,
	} {
		var s string
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(r::text, E'\n'), '') FROM (`+q+`) r`).Scan(&s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

// An installation made by the last single-cluster release (schema 17)
// upgrades to statements per cluster without losing or changing anything:
// every job, charge, adjustment and issued statement is as it was, each
// issued statement still verifies against its stored hash (versions 1 and
// 2), every figure today's code reads (issued statements, person
// statements, period totals, the open period's preview) is the figure the
// old release showed, and `tally check` finds nothing to report.
func TestMigrationFromSingleClusterKeepsEverything(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewEmpty(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.UpTo(ctx, lastSingleClusterSchema); err != nil {
		t.Fatal(err)
	}
	// Today's ingest and rating write to the partitioned tables of
	// migration 00020: they call ensure_month_partitions and fill
	// job_charges.job_submit, and the usage refresh reads what archived
	// months kept (migration 00021). Stand-ins let them write the old
	// release's rows; they go before the upgrade.
	if _, err := pool.Exec(ctx, `ALTER TABLE job_charges ADD COLUMN job_submit timestamptz;
		CREATE UNIQUE INDEX job_charges_today_idx ON job_charges (job_row, job_submit, portion_start);
		CREATE FUNCTION ensure_month_partitions(timestamptz, timestamptz) RETURNS integer LANGUAGE sql AS 'SELECT 0';
		CREATE TABLE usage_daily_archived (month date, LIKE usage_daily)`); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	importStandard(t, s)
	if err := s.EnsureMonths(ctx, at("2026-08-01T00:00:00Z"), at("2026-12-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAccountDetails(ctx, AccountDetails{Account: "physics", DisplayName: "Physics", PI: "Prof. P", CostCentre: "CC-1", PONumber: "PO-7", Active: true}, "test"); err != nil {
		t.Fatal(err)
	}
	// August: the cluster was renamed mid-month (testbed, then hpc1), so
	// a single-cluster installation can hold two cluster names; its
	// statement rounded cpu 0.005 + 0.005 once (0.01), where lines per
	// cluster would round each (0.02).
	renamed := mk(102, "alice", "physics", "cpu", "normal", 1, 1024, "2026-08-20T10:00:00Z", "2026-08-20T10:15:00Z")
	renamed.Cluster = "hpc1"
	split := mk(12, "erin", "physics", "cpu", "normal", 2, 2048, "2026-09-30T23:00:00Z", "2026-10-01T01:00:00Z")
	addJobs(t, pool,
		mk(101, "alice", "physics", "cpu", "normal", 1, 1024, "2026-08-10T10:00:00Z", "2026-08-10T10:15:00Z"), renamed,
		mk(11, "bob", "chem", "cpu", "normal", 1, 1024, "2026-09-10T10:45:00Z", "2026-09-10T12:00:00Z"),
		mk(13, "dave", "physics", "cpu", "normal", 1, 512, "2026-09-05T11:48:00Z", "2026-09-05T12:00:00Z"),
		split, // ends in October: charged there
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"),
		mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"),
		mk(3, "dave", "physics", "cpu", "normal", 1, 512, "2026-10-05T11:48:00Z", "2026-10-05T12:00:00Z"),
		mk(21, "alice", "physics", "cpu", "normal", 2, 2048, "2026-11-03T08:00:00Z", "2026-11-03T11:00:00Z"),
		mk(22, "carol", "chem", "cpu", "standby", 3, 4096, "2026-11-04T08:00:00Z", "2026-11-04T09:20:00Z"))
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []Adjustment{
		{Period: "2026-09", Account: "physics", User: "alice", Amount: 1_005_000, Reason: "late fee", Author: "finance"},
		{Period: "2026-10", Account: "chem", Amount: -250_000, Reason: "outage credit", Author: "finance"},
		{Period: "2026-11", Account: "chem", User: "carol", Amount: -500_000, Reason: "node 7 was slow", Author: "finance"},
	} {
		if _, err := s.AddAdjustment(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := s.Policy(ctx, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	closeAsBefore(t, pool, pol, "2026-08", 2)
	closeAsBefore(t, pool, pol, "2026-09", 1)
	closeAsBefore(t, pool, pol, "2026-10", 2)

	// What the old release showed: each period's statements (issued, or
	// the open one's preview) and each person's statement total.
	periods, err := s.Periods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type figure struct {
		total billing.Micros
		jobs  int
	}
	oldStatements := map[string][]Statement{}
	oldPeople := map[string]figure{}
	for _, p := range periods {
		oldStatements[p.Name] = pol.BuildStatements(sumsAsBefore(t, pool, p.ID, ""))
		for _, user := range []string{"alice", "bob", "carol", "dave", "erin"} {
			total, jobs, _, err := billing.Sum(pol.BuildStatements(sumsAsBefore(t, pool, p.ID, user)))
			if err != nil {
				t.Fatal(err)
			}
			oldPeople[p.Name+" "+user] = figure{total, jobs}
		}
	}
	if got := oldStatements["2026-08"]; len(got) != 1 || got[0].Total != 10_000 {
		t.Fatalf("August as issued: %+v", got)
	}
	before := storedRows(t, pool)

	if _, err := pool.Exec(ctx, `ALTER TABLE job_charges DROP COLUMN job_submit;
		DROP FUNCTION ensure_month_partitions(timestamptz, timestamptz);
		DROP TABLE usage_daily_archived`); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after := storedRows(t, pool)
	for name, rows := range before {
		if after[name] != rows {
			t.Errorf("%s changed in the upgrade:\nbefore\n%s\nafter\n%s", name, rows, after[name])
		}
	}
	var noCluster, lineClusters int
	pool.QueryRow(ctx, `SELECT count(*) FROM charge_sums WHERE cluster = ''`).Scan(&noCluster)
	pool.QueryRow(ctx, `SELECT count(*) FROM statement_lines WHERE cluster <> ''`).Scan(&lineClusters)
	if noCluster != 0 || lineClusters != 0 {
		t.Errorf("after the upgrade: %d sums without their cluster, %d issued lines given one", noCluster, lineClusters)
	}

	// Today's code reads the same figures.
	for _, p := range periods {
		ps, err := s.Statements(ctx, p.Name, nil, billing.HalfUp)
		if err != nil {
			t.Fatal(err)
		}
		old := oldStatements[p.Name]
		if len(ps.Statements) != len(old) {
			t.Fatalf("%s: %d statements, the old release had %d", p.Name, len(ps.Statements), len(old))
		}
		for i, st := range ps.Statements {
			o := old[i]
			if st.Account != o.Account || st.Total != o.Total || st.Jobs != o.Jobs || len(st.Lines) != len(o.Lines) {
				t.Errorf("%s %s: %s (%d jobs, %d lines), the old release showed %s %s (%d jobs, %d lines)", p.Name, st.Account, st.Total,
					st.Jobs, len(st.Lines), o.Account, o.Total, o.Jobs, len(o.Lines))
				continue
			}
			for k, l := range st.Lines {
				ol := o.Lines[k]
				if l.Component != ol.Component || l.Jobs != ol.Jobs || l.Exact != ol.Exact || l.Amount != ol.Amount {
					t.Errorf("%s %s line %d: %+v, the old release showed %+v", p.Name, st.Account, k, l, ol)
				}
			}
			if p.Closed() && (st.HashVersion != 1 && st.HashVersion != 2 || st.Hash(ps.Period) != st.SHA256) {
				t.Errorf("%s %s: issued with hash v%d %s, which no longer verifies", p.Name, st.Number, st.HashVersion, st.SHA256)
			}
		}
		for _, user := range []string{"alice", "bob", "carol", "dave", "erin"} {
			us, err := s.UserStatement(ctx, p.Name, user, nil, billing.HalfUp)
			if err != nil {
				t.Fatal(err)
			}
			if o := oldPeople[p.Name+" "+user]; us.Total != o.total || int(us.Jobs) != o.jobs {
				t.Errorf("%s %s: %s (%d jobs), the old release showed %s (%d jobs)", p.Name, user, us.Total, us.Jobs, o.total, o.jobs)
			}
		}
		if p.Closed() {
			if _, diffs, err := s.Recheck(ctx, p.Name, billing.HalfUp); err != nil || len(diffs) > 0 {
				t.Errorf("tally check %s after the upgrade: %v %v", p.Name, diffs, err)
			}
		}
	}
	summaries, err := s.PeriodSummaries(ctx, nil, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range summaries {
		total, jobs, _, _ := billing.Sum(oldStatements[ps.Name])
		if ps.Total != total || int(ps.Jobs) != jobs {
			t.Errorf("periods list, %s: %s (%d jobs), the old release showed %s (%d jobs)", ps.Name, ps.Total, ps.Jobs, total, jobs)
		}
	}

	// The open period closes with today's code: lines per cluster (one
	// here), hash version 3, the total its preview showed.
	closed, err := s.ClosePeriod(ctx, "2026-11", "test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	total, _, _, _ := billing.Sum(oldStatements["2026-11"])
	if closed.Total != total {
		t.Errorf("2026-11 closed at %s, its preview showed %s", closed.Total, total)
	}
	for _, st := range closed.Statements {
		if st.HashVersion != 3 || st.Hash(closed.Period) != st.SHA256 {
			t.Errorf("2026-11 %s: hash v%d does not verify", st.Number, st.HashVersion)
		}
	}
	if _, diffs, err := s.Recheck(ctx, "2026-11", billing.HalfUp); err != nil || len(diffs) > 0 {
		t.Errorf("tally check 2026-11: %v %v", diffs, err)
	}
}
