package templates_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

var update = flag.Bool("update", false, "rewrite the golden HTML files in testdata/")

// A fixed clock: every time on these pages is derived from it.
var clock = time.Date(2026, 11, 24, 10, 42, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func page(title, path string) templates.Page {
	return templates.Page{Title: title, Path: path, Version: "test",
		Viewer: &templates.Viewer{Name: "alice", Roles: []string{"researcher"}},
		Nav:    []templates.NavItem{{Label: "Dashboard", Href: "/"}, {Label: "Jobs", Href: "/jobs"}},
		Asset:  func(name string) string { return "/static/" + name }}
}

func jobs() []billingpg.JobRow {
	end := clock.Add(-2 * time.Hour)
	return []billingpg.JobRow{
		{Row: 7, Cluster: "testbed", JobID: 4242, ArrayJobID: 4240, ArrayTaskID: ptr(int64(2)), Name: `<script>alert("x")</script>`,
			User: "alice", Account: "physics", Partition: "gpu", QOS: "high", State: "COMPLETED", Submit: end.Add(-3 * time.Hour),
			Start: ptr(end.Add(-2 * time.Hour)), End: ptr(end), ElapsedSeconds: 7200, CPUs: 8, MemMiB: 32768, GPUs: 1,
			CPUTimeMicros: 36000 * 1_000_000, Total: ptr(billing.Micros(12_345_678)), EfficiencyPPM: ptr(int64(625_000)), Currency: "EUR"},
		{Row: 8, Cluster: "testbed", JobID: 4250, Name: "relax", User: "alice", Account: "physics", Partition: "cpu", QOS: "normal",
			State: "RUNNING", Submit: end, Start: ptr(end.Add(time.Minute)), CPUs: 2, MemMiB: 4096},
	}
}

// Key components rendered with fixed data match their golden HTML; run
// `go test ./templates -update` after an intended change and review the diff.
func TestGoldenHTML(t *testing.T) {
	chart := templates.DrawChart(templates.ChartSpec{Title: "Charges per day", YTitle: "Charges (EUR)", XTitle: "Day the jobs ended (UTC)",
		KeyHeader: "When", ValueHeader: "Charges", ShowJobs: true, PerUnit: 1_000_000, Data: []templates.ChartDatum{
			{Tick: "Nov 23", Label: "Nov 23", Shown: "€6.00", Raw: 6_000_000, Jobs: 3},
			{Tick: "Nov 24", Label: "Nov 24", Shown: "€12.35", Raw: 12_350_000, Jobs: 1}}})
	burn := templates.DrawChart(templates.ChartSpec{Title: "Spent by the end of each period, against the budget", TestID: "burn-chart",
		Nested: true, YTitle: "Spent (core-hours)", XTitle: "Billing period", KeyHeader: "Period", ValueHeader: "Spent by its end",
		PerUnit: 3600, Series: []string{"Spent by the period's end"}, Summary: "90.00 core-hours of a budget of 100.00 core-hours spent so far",
		Ref: &templates.ChartRef{Name: "Budget", Shown: "100.00 core-hours", Raw: 360_000}, Data: []templates.ChartDatum{
			{Tick: "2026-10", Label: "2026-10", Shown: "40.00 core-hours", Raw: 144_000},
			{Tick: "2026-11", Label: "2026-11", Shown: "90.00 core-hours", Raw: 324_000}}})
	cases := map[string]templ.Component{
		"job-table":  templates.JobTable(templates.Page{}, jobs()),
		"bar-chart":  templates.BarChart(chart),
		"burn-chart": templates.BarChart(burn),
		"jobs-page": templates.Jobs(page("Jobs", "/jobs"), templates.JobsData{Heading: "Jobs", Rows: jobs(), CSVHref: "/jobs.csv?",
			Totals: templates.JobTotalsView{Jobs: "1,234", CoreHours: "16.00", GPUHours: "2.00", Total: templates.Figure{Shown: "12.35 EUR", Exact: "12.345678"}},
			Pager:  templates.Pager{NextHref: "/jobs?after=v.8.x", PrevHref: "/jobs?before=v.7.y", FirstHref: "/jobs"},
			Sorts:  []templates.SortLink{{Key: "end", Label: "Ended", Href: "/jobs?sort=end&dir=asc", Sort: "descending"}, {Key: "cost", Label: "Cost", Href: "/jobs?sort=cost&dir=desc"}}}),
		"jobs-empty-filter": templates.Jobs(page("Jobs", "/jobs"), templates.JobsData{Heading: "Jobs", Form: templates.JobFilterForm{State: "FAILED"}}),
		"dashboard": templates.Dashboard(page("", "/"), templates.DashboardData{Scope: "your jobs", MonthName: "November 2026",
			Month: templates.SummaryView{Jobs: "2", CoreHours: "16.00", GPUHours: "2.00", Efficiency: "62%",
				Total: templates.Figure{Shown: "12.35 EUR", Exact: "12.345678"}, Idle: templates.Figure{Shown: "1.00 EUR", Exact: "1.000000"}},
			Chart: chart, Recent: jobs(), HasJobs: true, Freshness: "Records up to 2026-11-24 10:39 UTC (3 min ago).", Forecast: "€15.43",
			ByAccount:  []templates.TotalRow{{Name: "physics", Jobs: "2", Total: templates.Figure{Shown: "12.35 EUR", Exact: "12.345678"}}},
			LastClosed: &templates.LastStatement{Period: "2026-10", User: "alice", Jobs: "40", Scope: "your jobs", Own: true, Total: templates.Figure{Shown: "99.50 EUR", Exact: "99.500000"}}}),
		"dashboard-empty": templates.Dashboard(page("", "/"), templates.DashboardData{Scope: "your jobs", MonthName: "November 2026",
			Month: templates.SummaryView{Jobs: "0", CoreHours: "0.00", GPUHours: "0.00", Efficiency: "0%",
				Total: templates.Figure{Shown: "0.00", Exact: "0.000000"}, Idle: templates.Figure{Shown: "0.00", Exact: "0.000000"}},
			Freshness: "No records have been ingested yet."}),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			got := []byte(strings.ReplaceAll(buf.String(), "><", ">\n<") + "\n")
			path := filepath.Join("testdata", name+".html")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test ./templates -update, then review the diff)\n%s", name, path, got)
			}
			if strings.Contains(buf.String(), "<script>alert") {
				t.Error("a job name was not escaped")
			}
		})
	}
}
