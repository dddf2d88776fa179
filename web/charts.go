package web

import (
	"fmt"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

// microsPerUnit is how many of billing.Micros make one unit of currency,
// the y axis's unit of a money chart.
const microsPerUnit = 1_000_000

// moneyChart is the spec of a chart of charges in currency: each datum's
// figure is printed by the policy exactly as the page's tables print it,
// and drawn at that rounded amount, so picture, label and table agree.
func moneyChart(title, currency string) templates.ChartSpec {
	yTitle := "Charges"
	if currency != "" {
		yTitle += " (" + currency + ")"
	}
	return templates.ChartSpec{Title: title, YTitle: yTitle, KeyHeader: "When", ValueHeader: "Charges",
		ShowJobs: true, PerUnit: microsPerUnit, Empty: "Nothing to chart yet."}
}

// moneyDatum is one bar of a money chart.
func moneyDatum(pol billing.Policy, tick, label string, total billing.Micros, jobs int64, currency string) templates.ChartDatum {
	return templates.ChartDatum{Tick: tick, Label: label, Shown: pol.Money(total, currency),
		Raw: int64(pol.Round(total, currency)), Jobs: jobs}
}

// dailyChart draws n days from start as bars, or nothing when none of
// them has a job or a charge.
func dailyChart(pol billing.Policy, title string, days []billingpg.DayCost, start time.Time, n int, currency string) templates.Chart {
	by := map[string]billingpg.DayCost{}
	for _, d := range days {
		by[d.Day.Format("2006-01-02")] = d
	}
	spec := moneyChart(title, currency)
	spec.XTitle = "Day the jobs ended (UTC)"
	var any bool
	for i := range n {
		day := start.AddDate(0, 0, i)
		d := by[day.Format("2006-01-02")]
		any = any || d.Jobs > 0 || d.Total != 0
		spec.Data = append(spec.Data, moneyDatum(pol, day.Format("Jan 2"), day.Format("Jan 2"), d.Total, d.Jobs, currency))
	}
	if !any {
		spec.Data = nil
	}
	return templates.DrawChart(spec)
}

// trendChart draws one bar per billing period, the open one apart from
// the closed ones: its total is still growing.
func trendChart(pol billing.Policy, title string, periods []billingpg.PeriodTotal, currency string) templates.Chart {
	spec := moneyChart(title, currency)
	spec.XTitle = "Billing period"
	spec.KeyHeader = "Period"
	spec.Series = []string{"Closed period (as issued)", "Open period (so far)"}
	var any bool
	for _, p := range periods {
		d := moneyDatum(pol, p.Period, p.Period, p.Total, p.Jobs, currency)
		if p.Status == billing.PeriodOpen {
			d.Label += " (open)"
			d.Series = 1
		}
		any = any || p.Jobs > 0 || p.Total != 0
		spec.Data = append(spec.Data, d)
	}
	if !any {
		spec.Data = nil
	}
	return templates.DrawChart(spec)
}

// burnChart draws what a budget has spent by the end of each period of
// its range that has begun, against the budget.
func burnChart(pol billing.Policy, b billing.Budget, bal billing.Balance) templates.Chart {
	amount := func(v int64) string { return pol.FormatBudgetAmount(b, v) }
	// Money is drawn at the amount printed; use in hours is drawn exactly
	// (printed truncated to the hundredth).
	drawn := func(v int64) int64 { return v }
	spec := templates.ChartSpec{Title: "Spent by the end of each period, against the budget", TestID: "burn-chart", Nested: true,
		Empty: "No billing period of this budget has started yet.", XTitle: "Billing period",
		KeyHeader: "Period", ValueHeader: "Spent by its end", PerUnit: 3600,
		YTitle: "Spent (" + string(b.Unit) + ")", Series: []string{"Spent by the period's end"}}
	if b.Unit == billing.UnitMoney {
		spec.PerUnit, spec.YTitle = microsPerUnit, "Spent ("+b.Currency+")"
		drawn = func(v int64) int64 { return int64(pol.Round(billing.Micros(v), b.Currency)) }
	}
	var points []billing.PeriodAmount
	for _, p := range bal.ByPeriod {
		if !p.Starts.After(bal.At) {
			points = append(points, p)
		}
	}
	if len(points) == 0 {
		return templates.DrawChart(spec)
	}
	var cum int64
	for i, p := range points {
		cum += p.Amount
		if i == len(points)-1 && b.Covers(bal.At) {
			cum += bal.Accruing
		}
		spec.Data = append(spec.Data, templates.ChartDatum{Tick: p.Period, Label: p.Period, Shown: amount(cum), Raw: drawn(cum)})
	}
	spec.Ref = &templates.ChartRef{Name: "Budget", Shown: amount(b.Amount), Raw: drawn(b.Amount)}
	spec.Summary = fmt.Sprintf("%s of a budget of %s spent so far, over %d periods", amount(cum), amount(b.Amount), len(points))
	return templates.DrawChart(spec)
}
