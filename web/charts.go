package web

import (
	"fmt"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

// chartPoint is one bar before it is drawn.
type chartPoint struct {
	Label string
	Total billing.Micros
	Jobs  int64
}

// barChart scales points to bars of an inline SVG chart; each bar also
// becomes a row of the chart's data table for those who cannot see it.
func barChart(pol billing.Policy, title string, points []chartPoint, currency string) templates.Chart {
	c := templates.Chart{Title: title, Width: 600, Height: 160}
	var max billing.Micros
	var any bool
	for _, p := range points {
		if p.Total > max {
			max = p.Total
		}
		any = any || p.Jobs > 0 || p.Total != 0
	}
	if !any || len(points) == 0 {
		return c
	}
	bw := c.Width / len(points)
	for i, p := range points {
		h := 0
		if max > 0 && p.Total > 0 {
			h = int(int64(p.Total) * int64(c.Height-15) / int64(max))
		}
		value := pol.Money(p.Total, currency)
		c.Bars = append(c.Bars, templates.Bar{X: i*bw + 1, Y: c.Height - h, W: bw - 2, H: h,
			Title: fmt.Sprintf("%s: %s, %d jobs", p.Label, value, p.Jobs), Label: p.Label, Value: value, Jobs: p.Jobs})
	}
	c.MaxLabel = pol.Money(max, currency)
	c.FirstLabel = points[0].Label
	c.LastLabel = points[len(points)-1].Label
	return c
}

// dailyChart draws n days from start as bars.
func dailyChart(pol billing.Policy, title string, days []billingpg.DayCost, start time.Time, n int, currency string) templates.Chart {
	by := map[string]billingpg.DayCost{}
	for _, d := range days {
		by[d.Day.Format("2006-01-02")] = d
	}
	points := make([]chartPoint, n)
	for i := range points {
		day := start.AddDate(0, 0, i)
		d := by[day.Format("2006-01-02")]
		points[i] = chartPoint{Label: day.Format("Jan 2"), Total: d.Total, Jobs: d.Jobs}
	}
	return barChart(pol, title, points, currency)
}

// trendChart draws one bar per billing period.
func trendChart(pol billing.Policy, title string, periods []billingpg.PeriodTotal, currency string) templates.Chart {
	points := make([]chartPoint, len(periods))
	for i, p := range periods {
		label := p.Period
		if p.Status == "open" {
			label += " (open)"
		}
		points[i] = chartPoint{Label: label, Total: p.Total, Jobs: p.Jobs}
	}
	return barChart(pol, title, points, currency)
}
