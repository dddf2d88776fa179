package budgetwatch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// The drafts a balance calls for: each threshold reached, and the
// runs-out warning when the forecast falls within the budget's days;
// money through the rounding policy.
func TestDrafts(t *testing.T) {
	b := billing.Budget{ID: 7, Account: "physics", Unit: billing.UnitMoney, Currency: "USD", Amount: 1000 * billing.MicrosPerUnit,
		Starts: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Ends: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC),
		Thresholds: []int{50, 80, 100}, RunsOutDays: 30, Enforce: true}
	pol := billing.NewPolicy(billing.HalfUp, nil)
	tests := []struct {
		name             string
		charged, recent  int64
		want             []string // kind:threshold
		wantBody         []string
		wantRunsOutInPay bool
	}{
		{"nothing yet", 0, 0, nil, nil, false},
		{"half, slowly", 500_004_999, 1 * billing.MicrosPerUnit, []string{"threshold:50"},
			[]string{"Remaining:  495.00 USD", "Spent:      505.00 USD (charged 500.00 USD", "Slurm refuses new jobs under physics"}, false},
		{"85 %, fast: runs out within 30 days", 850 * billing.MicrosPerUnit, 100 * billing.MicrosPerUnit,
			[]string{"threshold:50", "threshold:80", "runs_out:30"}, []string{"runs out around 2026-12-05, within 30 days", "Forecast:   runs out around 2026-12-05"}, true},
		{"overspent", 1200 * billing.MicrosPerUnit, 100 * billing.MicrosPerUnit,
			[]string{"threshold:50", "threshold:80", "threshold:100"}, []string{"Remaining:  -205.00 USD", "budget of physics has reached 100 % (120 % used)"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bal := billing.NewBalance(b, now, tc.charged, 5*billing.MicrosPerUnit, tc.recent)
			ds := Drafts(bal, pol, "https://tally.example.org")
			var got []string
			for _, d := range ds {
				got = append(got, d.Kind+":"+itoa(d.Threshold))
				var p Payload
				if err := json.Unmarshal(d.Payload, &p); err != nil || p.BudgetID != 7 || p.Subject != d.Subject || (p.RunsOut != "") != tc.wantRunsOutInPay {
					t.Errorf("payload %s: %v", d.Payload, err)
				}
			}
			if joined(got) != joined(tc.want) {
				t.Fatalf("drafts %v, want %v", got, tc.want)
			}
			for _, w := range tc.wantBody {
				if !strings.Contains(ds[len(ds)-1].Body, w) {
					t.Errorf("body lacks %q:\n%s", w, ds[len(ds)-1].Body)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
