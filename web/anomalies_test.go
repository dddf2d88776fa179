package web

import (
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// Each anomaly links to what is behind it: the job list narrowed to the
// period's jobs of that kind, or the ingest page for a gap.
func TestAnomalyHref(t *testing.T) {
	p := billing.Period{Name: "2026-10", Starts: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Ends: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	const days = "from=2026-10-01&to=2026-10-31"
	for _, c := range []struct {
		a    billingpg.Anomaly
		want string
	}{
		{billingpg.Anomaly{Kind: "unrated"}, "/jobs?" + days + "&unrated=1"},
		{billingpg.Anomaly{Kind: "unknown_account", Example: "ghost"}, "/jobs?account=ghost&" + days},
		{billingpg.Anomaly{Kind: "unknown_user", Example: "nobody"}, "/jobs?" + days + "&user=nobody"},
		{billingpg.Anomaly{Kind: "large_charge"}, "/jobs?from=2026-10-01&sort=cost&to=2026-10-31"},
		{billingpg.Anomaly{Kind: "running"}, "/jobs?state=RUNNING"},
		{billingpg.Anomaly{Kind: "future_end", Example: "4242"}, "/jobs?q=4242"},
		{billingpg.Anomaly{Kind: "ingest_gap"}, "/admin/ingest"},
		{billingpg.Anomaly{Kind: "something new"}, ""},
	} {
		if got := anomalyHref(c.a, p); got != c.want {
			t.Errorf("%s: %q, want %q", c.a.Kind, got, c.want)
		}
	}
}
