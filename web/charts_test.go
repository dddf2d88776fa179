package web

import (
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

// Every chart prints its figures as the page's tables do (the policy's
// rounding, once) and draws each bar at that printed amount; the axis
// says the unit.
func TestChartFigures(t *testing.T) {
	pol := billing.NewPolicy(billing.HalfUp, nil)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	month := func(m int) time.Time { return time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }
	cores := billing.Budget{Account: "physics", Unit: billing.UnitCoreHours, Amount: 100 * 3600, Starts: month(10), Ends: month(13)}
	money := billing.Budget{Account: "physics", Unit: billing.UnitMoney, Currency: "USD", Amount: 5_000_000, Starts: month(10), Ends: month(13)}
	periods := []billing.PeriodAmount{{Period: "2026-10", Starts: month(10), Amount: 1_234_567}, {Period: "2026-11", Starts: month(11), Amount: 40 * 3600}}
	for _, c := range []struct {
		name   string
		chart  templates.Chart
		yTitle string
		shown  []string // each bar's figure, as printed
		legend string
		empty  bool
	}{
		{name: "days, exact micros rounded once",
			chart:  dailyChart(pol, "t", []billingpg.DayCost{{Day: start.AddDate(0, 0, 1), Total: 1_234_567, Jobs: 2}}, start, 3, "USD"),
			yTitle: "Charges (USD)", shown: []string{"0.00 USD", "1.23 USD", "0.00 USD"}},
		{name: "no day with a job or charge", chart: dailyChart(pol, "t", nil, start, 30, "USD"), yTitle: "Charges (USD)", empty: true},
		{name: "periods, the open one apart",
			chart: trendChart(pol, "t", []billingpg.PeriodTotal{{Period: "2026-10", Status: billing.PeriodClosed, Jobs: 4, Total: 9_990_000},
				{Period: "2026-11", Status: billing.PeriodOpen, Jobs: 1, Total: 10_005_000}}, "EUR"),
			yTitle: "Charges (EUR)", shown: []string{"9.99 EUR", "10.01 EUR"}, legend: "Closed period (as issued)|Open period (so far)"},
		{name: "a budget in core-hours",
			chart:  burnChart(pol, cores, billing.Balance{Budget: cores, At: month(11).AddDate(0, 0, 3), ByPeriod: periods, Accruing: 3600}),
			yTitle: "Spent (core-hours)", shown: []string{"342.93 core-hours", "383.93 core-hours"}, legend: "Spent by the period's end|Budget (100.00 core-hours)"},
		{name: "a budget in money, before the next period",
			chart:  burnChart(pol, money, billing.Balance{Budget: money, At: month(10).AddDate(0, 0, 3), ByPeriod: periods}),
			yTitle: "Spent (USD)", shown: []string{"1.23 USD"}, legend: "Spent by the period's end|Budget (5.00 USD)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.chart.YTitle != c.yTitle {
				t.Errorf("y axis %q, want %q", c.chart.YTitle, c.yTitle)
			}
			if c.empty != (len(c.chart.Points) == 0) {
				t.Fatalf("%d bars, want empty: %v", len(c.chart.Points), c.empty)
			}
			var shown, legend []string
			for _, p := range c.chart.Points {
				shown = append(shown, p.Shown)
				if !strings.Contains(p.ARIA, p.Shown) {
					t.Errorf("bar %q does not say its figure %q", p.ARIA, p.Shown)
				}
			}
			for _, l := range c.chart.Legend {
				legend = append(legend, l.Name)
			}
			if !c.empty && strings.Join(shown, "|") != strings.Join(c.shown, "|") {
				t.Errorf("figures %q, want %q", shown, c.shown)
			}
			if strings.Join(legend, "|") != c.legend {
				t.Errorf("legend %q, want %q", legend, c.legend)
			}
		})
	}
}
