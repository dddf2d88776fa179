package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

func importStandard(t testing.TB, s *Store) {
	t.Helper()
	f, err := os.Open("../testdata/standard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cards, err := billing.ParseRateFile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(context.Background(), cards, "test"); err != nil {
		t.Fatal(err)
	}
}

func at(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// addJobs stores records the way ingest does.
func addJobs(t *testing.T, pool *pgxpool.Pool, jobs ...slurm.Job) {
	t.Helper()
	ctx := context.Background()
	w, err := jobstore.New(pool).Begin(ctx, "sacct")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := w.Add(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, jobstore.Run{WindowStart: time.Unix(0, 0), WindowEnd: time.Unix(1, 0), Source: "sacct", Trigger: "test", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func mk(id int64, user, account, partition, qos string, cpu, memMiB int64, start, end string) slurm.Job {
	s, e := at(start), at(end)
	return slurm.Job{Cluster: "testbed", JobID: id, Submit: s, Start: s, End: e, User: user, Account: account, Partition: partition,
		QOS: qos, State: "COMPLETED", ElapsedSeconds: int64(e.Sub(s) / time.Second),
		Requested: slurm.TRES{CPU: cpu, MemMiB: memMiB, Nodes: 1}, Allocated: slurm.TRES{CPU: cpu, MemMiB: memMiB, Nodes: 1}}
}

func totals(t *testing.T, pool *pgxpool.Pool) map[int64]int64 {
	rows, err := pool.Query(context.Background(), `SELECT j.job_id, sum(c.total_micros) FROM job_charges c JOIN jobs j ON j.id = c.job_row GROUP BY j.job_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, total int64
		rows.Scan(&id, &total)
		out[id] = total
	}
	return out
}

func TestImportIsIdempotentAndVersionsReadOnly(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	f, _ := os.ReadFile("../testdata/standard.yaml")
	cards, _ := billing.ParseRateFile(strings.NewReader(string(f)), nil)
	res, err := s.Import(ctx, cards, "test")
	if err != nil || len(res.Unchanged) != 2 || len(res.Added) != 0 {
		t.Fatalf("re-import: %+v %v", res, err)
	}
	changed, _ := billing.ParseRateFile(strings.NewReader(strings.Replace(string(f), `cpu:    {combine: sum, cpu: "0.02"`, `cpu:    {combine: sum, cpu: "0.025"`, 1)), nil)
	if _, err := s.Import(ctx, changed, "test"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("changed version accepted: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE rate_cards SET currency = 'EUR'`); err == nil {
		t.Fatal("the database let a rate card version change")
	}
	loaded, err := s.Cards(ctx)
	if err != nil || len(loaded) != 2 || loaded[1].Version != 2 {
		t.Fatalf("cards: %v %v", len(loaded), err)
	}
}

func TestRateOpenPeriodsAndClosedCharges(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"), // example 1: 0.40
		mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"),         // example 2: 0.028125
		mk(3, "alice", "physics", "cpu", "normal", 1, 1024, "2026-11-02T10:00:00Z", "2026-11-02T12:00:00Z"),    // v2: 0.07
	)
	pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ('2026-10', '2026-10-01', '2026-11-01'), ('2026-11', '2026-11-01', '2026-12-01')`)

	sum, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	if err != nil || sum.Jobs != 3 || sum.Written != 3 || sum.Failed != 0 {
		t.Fatalf("first rating: %+v %v", sum, err)
	}
	want := map[int64]int64{1: 400000, 2: 28125, 3: 70000}
	if got := totals(t, pool); len(got) != 3 || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("totals %v, want %v", got, want)
	}
	again, _ := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	if again.Written != 0 || again.Unchanged != 3 {
		t.Fatalf("re-rating wrote rows: %+v", again)
	}

	// October closes; then prices change from October 20. Only November's
	// job is re-rated.
	pool.Exec(ctx, `UPDATE billing_periods SET status = 'closed', closed_at = now(), closed_by = 'test' WHERE name = '2026-10'`)
	v3 := `name: standard
currency: USD
versions:
  - version: 3
    effective_from: 2026-10-20T00:00:00Z
    partitions:
      cpu: {cpu: "0.05", mem: "0.005"}
`
	if _, err := s.AddVersion(ctx, v3, "test"); err != nil {
		t.Fatal(err)
	}
	sum, err = s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	if err != nil || sum.Written != 1 {
		t.Fatalf("after the change: %+v %v", sum, err)
	}
	got := totals(t, pool)
	if got[1] != 400000 || got[2] != 28125 || got[3] != 110000 {
		t.Fatalf("totals after a change in a closed period: %v", got)
	}
	// The database itself refuses to touch a closed period's charges.
	_, err = pool.Exec(ctx, `UPDATE job_charges SET total_micros = 0 WHERE period_id = (SELECT id FROM billing_periods WHERE name = '2026-10')`)
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("closed charges changed: %v", err)
	}
	_, err = pool.Exec(ctx, `DELETE FROM job_charges`)
	if err == nil {
		t.Fatal("closed charges deleted")
	}
	// AddVersion wants the next number.
	if _, err := s.AddVersion(ctx, strings.Replace(v3, "version: 3", "version: 7", 1), "test"); err == nil {
		t.Fatal("version 7 accepted after 3")
	} else {
		var be *billing.Error
		if !errors.As(err, &be) || be.Kind != billing.KindInvalid {
			t.Fatalf("error kind: %v", err)
		}
	}
}

func TestSplitAttributionAcrossPeriods(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool, mk(10, "alice", "physics", "cpu", "normal", 4, 4096, "2026-10-31T22:00:00Z", "2026-11-01T02:00:00Z"))
	pool.Exec(ctx, `INSERT INTO billing_periods (name, starts_at, ends_at) VALUES ('2026-10', '2026-10-01', '2026-11-01'), ('2026-11', '2026-11-01', '2026-12-01')`)
	if _, err := s.RateOpen(ctx, RateOptions{Attribution: "split", Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	rows, _ := pool.Query(ctx, `SELECT p.name, c.total_micros FROM job_charges c JOIN billing_periods p ON p.id = c.period_id ORDER BY p.name`)
	var got []string
	for rows.Next() {
		var n string
		var m int64
		rows.Scan(&n, &m)
		got = append(got, n+"="+billing.Micros(m).String())
	}
	rows.Close()
	if strings.Join(got, ",") != "2026-10=0.280000,2026-11=0.280000" {
		t.Fatalf("split: %v", got)
	}
	// Switching to end attribution moves the whole job to November.
	if _, err := s.RateOpen(ctx, RateOptions{Attribution: "end", Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	var n int
	var total int64
	pool.QueryRow(ctx, `SELECT count(*), sum(total_micros) FROM job_charges`).Scan(&n, &total)
	if n != 1 || total != 560000 {
		t.Fatalf("end attribution: %d rows, %d", n, total)
	}
}

func TestAppendLinesMatchesEncodingJSON(t *testing.T) {
	lines := []billing.Line{
		{Component: "cpu", Quantity: "10", Unit: "core-h", UnitPrice: 20000, QOSMultiplier: billing.One, AccountMultiplier: 900000, Amount: 200000},
		{Component: "gpu", GPUType: `a100 "x"<&>`, Quantity: "6.5", Unit: "GPU-h", UnitPrice: 2500000, QOSMultiplier: 500000, AccountMultiplier: billing.One, Amount: 7500000, Note: "not charged: é"},
	}
	want, _ := json.Marshal(lines)
	if got := appendLines(nil, lines); string(got) != string(want) {
		t.Fatalf("\n%s\n%s", got, want)
	}
	if got := appendLines(nil, nil); string(got) != "[]" {
		t.Fatalf("empty: %s", got)
	}
}

func TestWhatIf(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"),
		mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"))
	draft, _ := billing.ParseRateFile(strings.NewReader(`name: standard
currency: USD
versions:
  - version: 3
    effective_from: 2027-01-01T00:00:00Z
    partitions:
      cpu: {cpu: "0.04", mem: "0.005"}
`), nil)
	rows, err := s.WhatIf(ctx, draft[0], at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"), billing.HalfUp)
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	// physics: cpu 10 core-h at 0.02 -> 0.04; chem loses its discount in the draft.
	if rows[1].Account != "physics" || rows[1].Current.String() != "0.400000" || rows[1].Draft.String() != "0.600000" {
		t.Errorf("physics %+v", rows[1])
	}
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM job_charges`).Scan(&n)
	if n != 0 {
		t.Error("what-if wrote charges")
	}
}

// The references a charge makes are enforced by the database.
func TestChargeReferences(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool, mk(1, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-10T10:00:00Z", "2026-10-10T12:00:00Z"))
	s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"))
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE job_charges SET period_id = 999999`,
		`UPDATE job_charges SET rate_card_id = 999999`,
		`INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, cluster, account, username, total_micros, charge_hash, period_id)
		 SELECT job_row, job_submit, portion_start - interval '1 day', portion_end, cluster, account, username, 1, 'x', 424242 FROM job_charges`,
		`DELETE FROM billing_periods WHERE name = '2026-10'`,
		`INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, cluster, account, username, total_micros, charge_hash)
		 VALUES (987654321, now(), now(), now(), 'c', 'a', 'u', 1, 'x')`,
	} {
		if _, err := pool.Exec(ctx, q); err == nil {
			t.Errorf("the database allowed: %s", q)
		}
	}
}

// Under split attribution a job still running when a period ends is
// charged for that period at close, and for the rest once it ends.
func TestSplitRunningJobAtClose(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := thisMonth.AddDate(0, -1, 0)
	start := thisMonth.Add(-2 * time.Hour)
	running := mk(20, "alice", "physics", "cpu", "normal", 4, 4096, start.Format(time.RFC3339), start.Format(time.RFC3339))
	running.End, running.State, running.ElapsedSeconds = time.Time{}, "RUNNING", 0
	addJobs(t, pool, running)
	s.EnsureMonths(ctx, lastMonth, thisMonth.AddDate(0, 1, 0))
	opt := RateOptions{Attribution: "split", Rounding: billing.HalfUp}
	if _, err := s.RateOpen(ctx, opt); err != nil {
		t.Fatal(err)
	}
	pre, _ := s.Statements(ctx, lastMonth.Format("2006-01"), nil, billing.HalfUp)
	if len(pre.Statements) != 1 || pre.Statements[0].Total == 0 {
		t.Fatalf("running job not charged for the ended month: %+v", pre.Statements)
	}
	closed, err := s.ClosePeriod(ctx, lastMonth.Format("2006-01"), "test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	// The job ends two hours into this month.
	done := running
	done.End, done.State, done.ElapsedSeconds = thisMonth.Add(2*time.Hour), "COMPLETED", 4*3600
	addJobs(t, pool, done)
	if _, err := s.RateOpen(ctx, opt); err != nil {
		t.Fatal(err)
	}
	var portions int
	var total int64
	pool.QueryRow(ctx, `SELECT count(*), sum(total_micros) FROM job_charges`).Scan(&portions, &total)
	if portions != 2 || billing.Micros(total-int64(closed.Statements[0].Total)) <= 0 {
		t.Fatalf("after the end: %d portions, total %s", portions, billing.Micros(total))
	}
	after, _ := s.Statements(ctx, lastMonth.Format("2006-01"), nil, billing.HalfUp)
	if after.Statements[0].Total != closed.Statements[0].Total {
		t.Fatal("the closed month changed")
	}
}
