package postgres

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// importCard stores the standard card's prices under another currency and
// minor digits.
func importCard(t *testing.T, s *Store, name, currency, digits string) error {
	t.Helper()
	b, err := os.ReadFile("../testdata/standard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(strings.Replace(string(b), "name: standard", "name: "+name, 1), "currency: USD\nminor_digits: 2", "currency: "+currency+"\nminor_digits: "+digits, 1)
	cards, err := billing.ParseRateFile(strings.NewReader(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(context.Background(), cards, "test")
	return err
}

// A card with minor_digits: 3 rounds statements to three decimals and
// every export prints three.
func TestThreeMinorDigitsEverywhere(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	if err := importCard(t, s, "mills", "USD", "3"); err != nil {
		t.Fatal(err)
	}
	// Example 2's job: cpu 0.0225, mem 0.005625 (chem's 10 % discount).
	addJobs(t, pool, mk(1, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z"))
	if err := s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	// 0.0225 -> 0.023 and 0.005625 -> 0.006 (two digits would give 0.02 + 0.01).
	if ps.Total.String() != "0.029000" {
		t.Fatalf("statement total %s, want 0.029000", ps.Total)
	}
	pol, _ := s.Policy(ctx, billing.HalfUp)
	if got := pol.Money(ps.Total, "USD"); got != "0.029 USD" {
		t.Errorf("shown as %q", got)
	}
	var csv bytes.Buffer
	if err := s.WriteAccountSummary(ctx, &csv, "2026-10", nil, billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), ",0.029,0.000,0.029,USD,") {
		t.Errorf("accounts.csv does not print three digits:\n%s", csv.String())
	}
}

// One currency per sum: a card billing a cluster in a second currency is
// refused, so no total ever adds USD to EUR.
func TestSecondCurrencyRefused(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	importStandard(t, s)
	err := importCard(t, s, "euro", "EUR", "2")
	var be *billing.Error
	if err == nil || !strings.Contains(err.Error(), "two currencies") || !errors.As(err, &be) || be.Kind != billing.KindConflict {
		t.Fatalf("a EUR card beside USD ones: %v", err)
	}
	cards, _ := s.Cards(context.Background())
	for _, c := range cards {
		if c.Currency != "USD" {
			t.Errorf("stored %s v%d in %s", c.Name, c.Version, c.Currency)
		}
	}
}

// A record whose end time is still to come is not charged (and is an
// anomaly of its period); once that time has passed, it is.
func TestFutureEndNotCharged(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if err := s.EnsureMonths(ctx, month, month.AddDate(0, 2, 0)); err != nil {
		t.Fatal(err)
	}
	soon := now.Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	j := mk(7, "alice", "physics", "cpu", "normal", 4, 4096, soon.Add(-2*time.Hour).Format(time.RFC3339), soon.Format(time.RFC3339))
	addJobs(t, pool, j)
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp, OnlyChanged: true}); err != nil {
		t.Fatal(err)
	}
	var charges int
	pool.QueryRow(ctx, `SELECT count(*) FROM job_charges`).Scan(&charges)
	if charges != 0 {
		t.Fatalf("a job ending at %s was charged before it ended", soon.Format(time.TimeOnly))
	}
	anomalies, err := s.Anomalies(ctx, soon.Format("2006-01"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range anomalies {
		found = found || a.Kind == "future_end"
		if a.Kind == "unrated" {
			t.Errorf("a job not yet ended counted as unrated: %+v", a)
		}
	}
	if !found {
		t.Errorf("no future_end anomaly: %+v", anomalies)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	// The job stayed queued, so a scheduled (only-changed) run rates it.
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp, OnlyChanged: true}); err != nil {
		t.Fatal(err)
	}
	pool.QueryRow(ctx, `SELECT count(*) FROM job_charges WHERE not_charged = ''`).Scan(&charges)
	if charges != 1 {
		t.Fatalf("charges after the job ended: %d", charges)
	}
}

// charge_sums (kept by triggers) equals the charges it sums after every
// kind of write rating makes: new charges, changed ones, deleted ones.
func TestChargeSumsFollowCharges(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	rateOctober(t, s, pool)
	direct := `WITH live AS (SELECT * FROM job_charges WHERE period_id IS NOT NULL AND not_charged = ''),
		per AS (SELECT period_id, account, username, cluster, currency, l->>0 AS component, job_row, portion_start, sum((l->>7)::bigint) AS exact
			FROM live, json_array_elements(live.lines) l GROUP BY 1, 2, 3, 4, 5, 6, 7, 8)
		SELECT period_id, account, username, cluster, component, currency, count(*), sum(exact)::bigint FROM per GROUP BY 1, 2, 3, 4, 5, 6
		UNION ALL SELECT period_id, account, username, cluster, '', currency, count(*), 0 FROM live GROUP BY 1, 2, 3, 4, 6
		ORDER BY 1, 2, 3, 4, 5`
	same := func(step string) {
		t.Helper()
		var want, got string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(r::text, ';'), '') FROM (`+direct+`) r`).Scan(&want); err != nil {
			t.Fatal(err)
		}
		pool.QueryRow(ctx, `SELECT coalesce(string_agg(r::text, ';'), '') FROM (SELECT period_id, account, username, cluster, component, currency, jobs, exact_micros
			FROM charge_sums ORDER BY 1, 2, 3, 4, 5) r`).Scan(&got)
		if got != want {
			t.Fatalf("%s: charge_sums\n %s\ncharges\n %s", step, got, want)
		}
	}
	same("rated")
	// Job 2 moves to physics and runs longer; job 3 turns out to be a
	// NODE_FAIL (not charged).
	j2 := mk(2, "bob", "physics", "cpu", "normal", 2, 1024, "2026-10-10T10:45:00Z", "2026-10-10T13:00:00Z")
	j3 := mk(3, "dave", "physics", "cpu", "normal", 1, 512, "2026-10-05T11:48:00Z", "2026-10-05T12:00:00Z")
	j3.State = "NODE_FAIL"
	addJobs(t, pool, j2, j3)
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	same("re-rated")
	if _, err := pool.Exec(ctx, `DELETE FROM job_charges WHERE job_row = (SELECT id FROM jobs WHERE job_id = 1)`); err != nil {
		t.Fatal(err)
	}
	same("deleted")
	if _, err := pool.Exec(ctx, `TRUNCATE job_charges`); err != nil {
		t.Fatal(err)
	}
	var left int
	pool.QueryRow(ctx, `SELECT count(*) FROM charge_sums`).Scan(&left)
	if left != 0 {
		t.Errorf("%d sums left after the charges were emptied", left)
	}
}
