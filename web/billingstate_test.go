package web

import (
	"context"
	"testing"
	"time"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// seedWithPeriod seeds seedBilling's jobs and opens and rates the month
// they end in, whose name it returns with the jobs' row ids.
func seedWithPeriod(t *testing.T, e *testEnv) (rows map[int64]int64, period string) {
	t.Helper()
	rows = seedBilling(t, e) // 101 alice/physics, 102 coord/physics, 103 fin/chem
	ctx := context.Background()
	ended := time.Now().UTC().Add(-time.Hour) // when seedBilling's jobs end
	month := time.Date(ended.Year(), ended.Month(), 1, 0, 0, 0, 0, time.UTC)
	store := billingpg.New(e.srv.pool)
	if err := store.EnsureMonths(ctx, month, month.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{}); err != nil {
		t.Fatal(err)
	}
	return rows, month.Format("2006-01")
}

// billingState sums up everything the state-changing routes can change,
// to show that a refused request changed nothing.
func billingState(t *testing.T, e *testEnv) string {
	t.Helper()
	var s string
	if err := e.srv.pool.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM rate_cards), (SELECT count(*) FROM adjustments), (SELECT count(*) FROM account_details),
		(SELECT count(*) FROM ingest_runs), (SELECT count(*) FROM statements),
		(SELECT string_agg(name || '=' || status, ',' ORDER BY name) FROM billing_periods))`).Scan(&s); err != nil || s == "" {
		t.Fatalf("reading the state: %q %v", s, err)
	}
	return s
}
