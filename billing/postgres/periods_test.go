package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

func TestCloseSnapshotsThePreview(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	rateOctober(t, s, pool)
	pre, err := s.Statements(ctx, "2026-10", nil, billing.HalfUp)
	if err != nil || len(pre.Statements) != 2 {
		t.Fatalf("preview: %+v %v", pre, err)
	}
	chem := pre.Statements[0]
	if chem.Account != "chem" || chem.Total.String() != "0.030000" || chem.Number != "" {
		t.Fatalf("chem preview: %+v", chem)
	}
	closed, err := s.ClosePeriod(ctx, "2026-10", "finance-test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Statements(ctx, "2026-10", nil, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pre.Statements {
		p, c, st := pre.Statements[i], closed.Statements[i], stored.Statements[i]
		if c.Number != "2026-10-000"+string(rune('1'+i)) || st.Number != c.Number {
			t.Errorf("number %q / %q", c.Number, st.Number)
		}
		p.Number = st.Number
		if !reflect.DeepEqual(p, st) {
			t.Errorf("snapshot differs from preview:\n%+v\n%+v", p, st)
		}
		if st.SHA256 != p.SHA256 || len(st.SHA256) != 64 {
			t.Errorf("hash %q vs %q", st.SHA256, p.SHA256)
		}
	}
	var users int
	var userTotal int64
	pool.QueryRow(ctx, `SELECT count(*), sum(exact_micros) FROM statement_users`).Scan(&users, &userTotal)
	if users != 3 || userTotal != 400000+28125+4500 {
		t.Errorf("per-user snapshot: %d users, %d", users, userTotal)
	}
	if _, err := s.ClosePeriod(ctx, "2026-10", "again", billing.HalfUp); err == nil || !strings.Contains(err.Error(), "already closed") {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.ClosePeriod(ctx, "2026-12", "x", billing.HalfUp); err == nil {
		t.Fatal("closed a period that does not exist")
	}
	for _, q := range []string{
		`UPDATE statements SET total_micros = 0`,
		`DELETE FROM statement_lines`,
		`UPDATE statement_users SET exact_micros = 0`,
		`UPDATE billing_periods SET status = 'open', closed_at = NULL WHERE name = '2026-10'`,
		`UPDATE job_charges SET total_micros = 1 WHERE period_id = (SELECT id FROM billing_periods WHERE name = '2026-10')`,
	} {
		if _, err := pool.Exec(ctx, q); err == nil {
			t.Errorf("the database allowed: %s", q)
		}
	}
	// Re-rating leaves the closed period exactly as it was.
	sum, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	if err != nil || sum.Written != 0 {
		t.Fatalf("re-rate after close: %+v %v", sum, err)
	}
	// Coordinators' view: only their accounts.
	only, _ := s.Statements(ctx, "2026-10", []string{"physics"}, billing.HalfUp)
	if len(only.Statements) != 1 || only.Statements[0].Account != "physics" {
		t.Fatalf("scoped statements: %+v", only.Statements)
	}
}

// Adjustments land on the open period's statements, freeze with its close,
// and later corrections go to the next period.
func TestAdjustmentsAcrossTwoPeriods(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool, mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"))
	s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))
	s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	job := int64(1)
	if _, err := s.AddAdjustment(ctx, Adjustment{Period: "2026-10", Account: "physics", JobID: &job, Amount: -150000, Reason: "node 7 was slow", Author: "admin"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Adjustment{
		{Period: "2026-10", Account: "physics", Amount: 0, Reason: "x"},
		{Period: "2026-10", Account: "physics", Amount: 1, Reason: "  "},
		{Period: "2026-10", Account: "nosuch", Amount: 1, Reason: "x"},
		{Period: "2026-10", Account: "physics", JobID: new(int64), Amount: 1, Reason: "x"},
		{Period: "2031-01", Account: "physics", Amount: 1, Reason: "x"},
	} {
		if _, err := s.AddAdjustment(ctx, bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	pre, _ := s.Statements(ctx, "2026-10", nil, billing.HalfUp)
	if len(pre.Statements) != 1 || pre.Statements[0].Total.String() != "0.250000" {
		t.Fatalf("preview with a credit of 0.15: %+v", pre.Statements)
	}
	closed, err := s.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp)
	if err != nil || closed.Statements[0].Total.String() != "0.250000" {
		t.Fatalf("close: %+v %v", closed.Statements, err)
	}
	if _, err := s.AddAdjustment(ctx, Adjustment{Period: "2026-10", Account: "physics", Amount: 1000, Reason: "late", Author: "admin"}); err == nil || !strings.Contains(err.Error(), "next open period") {
		t.Fatalf("adjustment on a closed period: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO adjustments (period_id, account, amount_micros, reason, author)
		SELECT id, 'physics', 5, 'sneaky', 'sql' FROM billing_periods WHERE name = '2026-10'`); err == nil {
		t.Fatal("the database accepted an adjustment on a closed period")
	}
	if _, err := s.AddAdjustment(ctx, Adjustment{Period: "2026-11", Account: "physics", Amount: 1000000, Reason: "late record of job 1", Author: "admin"}); err != nil {
		t.Fatal(err)
	}
	nov, _ := s.Statements(ctx, "2026-11", nil, billing.HalfUp)
	if len(nov.Statements) != 1 || nov.Statements[0].Lines[0].Component != "adjustments" || nov.Statements[0].Total.String() != "1.000000" {
		t.Fatalf("november: %+v", nov.Statements)
	}
	var buf strings.Builder
	if err := s.WriteAdjustments(ctx, &buf, "2026-10", nil); err != nil || !strings.Contains(buf.String(), "-0.150000") || !strings.Contains(buf.String(), "node 7 was slow") {
		t.Fatalf("adjustments csv: %v\n%s", err, buf.String())
	}
}

func TestAnomalies(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"),
		mk(2, "mallory", "ghost", "nopart", "normal", 1, 1024, "2026-10-11T09:30:00Z", "2026-10-11T12:00:00Z"),
		mk(3, "alice", "physics", "cpu", "normal", 512, 4096*1024, "2026-10-01T00:00:00Z", "2026-10-30T00:00:00Z"),
		// Priced, but an account and user Slurm's associations do not know.
		mk(5, "mallory", "ghost", "cpu", "normal", 1, 1024, "2026-10-11T09:30:00Z", "2026-10-11T12:00:00Z"),
	)
	run := mk(4, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-31T20:00:00Z", "2026-10-31T20:00:00Z")
	run.End, run.State = time.Time{}, "RUNNING"
	addJobs(t, pool, run)
	for i := 0; i < 120; i++ {
		addJobs(t, pool, mk(int64(100+i), "alice", "physics", "cpu", "normal", 1, 512, "2026-10-12T10:00:00Z", "2026-10-12T10:10:00Z"))
	}
	pool.Exec(ctx, `INSERT INTO slurm_associations (cluster, account, username) VALUES ('testbed', 'physics', 'alice')`)
	pool.Exec(ctx, `INSERT INTO ingest_runs (window_start, window_end, source, trigger, started_at, finished_at)
		VALUES ('2026-10-01', '2026-10-20', 'rest', 'schedule', now(), now())`)
	s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"))
	s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
	got, err := s.Anomalies(ctx, "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, a := range got {
		kinds[a.Kind] = a.Count
	}
	for _, want := range []string{"unrated", "unknown_account", "unknown_user", "ingest_gap", "running", "large_charge"} {
		if kinds[want] == 0 {
			t.Errorf("no %s anomaly in %+v", want, got)
		}
	}
	// The period page links each anomaly to its jobs: its example subject,
	// and the job list's filter of the unrated ones.
	for _, a := range got {
		if (a.Kind == "unknown_account" || a.Kind == "unknown_user") && a.Example == "" {
			t.Errorf("%s has no example to link", a.Kind)
		}
	}
	unrated, err := s.Jobs(ctx, Scope{All: true}, JobFilter{Unrated: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(unrated) != 1 || unrated[0].JobID != 2 {
		t.Errorf("unrated jobs: %+v, want job 2 only", unrated)
	}
}

// rateOctober imports the standard card, stores docs/money.md's three
// October jobs (worked examples 1 and 2 and a tiny job), makes October and
// November, and rates them.
func rateOctober(t *testing.T, s *Store, pool *pgxpool.Pool) {
	t.Helper()
	importStandard(t, s)
	addJobs(t, pool,
		mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z"),
		mk(2, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"),
		mk(3, "dave", "physics", "cpu", "normal", 1, 512, "2026-10-05T11:48:00Z", "2026-10-05T12:00:00Z"),
	)
	if err := s.EnsureMonths(context.Background(), at("2026-10-01T00:00:00Z"), at("2026-12-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RateOpen(context.Background(), RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
}
