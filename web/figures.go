package web

import (
	"net/url"
	"strconv"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

// figures turns billing's figures into the view models templates print,
// every amount rounded and formatted by the one policy.
type figures struct{ pol billing.Policy }

func (f figures) money(m billing.Micros, currency string) templates.Figure {
	return templates.Figure{Shown: f.pol.Money(m, currency), Exact: m.String()}
}

func count[T ~int | ~int64](n T) string { return templates.Count(int64(n)) }

func (f figures) periodRows(ps []billingpg.PeriodSummary, fallback string) []templates.PeriodRow {
	out := make([]templates.PeriodRow, 0, len(ps))
	for _, p := range ps {
		currency := p.Currency
		if currency == "" {
			currency = fallback
		}
		out = append(out, templates.PeriodRow{Name: p.Name, From: templates.When(&p.Starts), To: templates.When(&p.Ends), Status: p.Status,
			Jobs: count(p.Jobs), Total: f.money(p.Total, currency)})
	}
	return out
}

func (f figures) periodHead(ps billing.PeriodStatements, fallback string) templates.PeriodHead {
	currency := ps.Currency
	if currency == "" {
		currency = fallback
	}
	h := templates.PeriodHead{Name: ps.Period.Name, Closed: ps.Period.Closed(), ClosedAt: templates.When(ps.Period.ClosedAt),
		ClosedBy: ps.Period.ClosedBy, Total: f.money(ps.Total, currency), Jobs: count(ps.Jobs)}
	if exact := ps.Exact(); exact != ps.Total {
		h.Rounding = "(the exact sum of every line is " + exact.String() + "; rounding each line once moved the total by " + (ps.Total - exact).String() + ")"
	}
	return h
}

func (f figures) statements(sts []billing.Statement) []templates.StatementView {
	out := make([]templates.StatementView, 0, len(sts))
	for _, st := range sts {
		v := templates.StatementView{Number: st.Number, Account: st.Account, Details: st.Details, Jobs: count(st.Jobs),
			Lines: f.lines(st.Lines, st.Currency), Total: f.money(st.Total, st.Currency), SHA256: st.SHA256, ByCluster: len(st.Clusters()) > 1}
		if exact := st.Exact(); exact != st.Total {
			v.Rounding = "The exact sum of the lines is " + exact.String() + ", so rounding moved this statement by " + (st.Total - exact).String() + "."
		}
		out = append(out, v)
	}
	return out
}

func (f figures) lines(ls []billing.StatementLine, currency string) []templates.LineView {
	out := make([]templates.LineView, 0, len(ls))
	for _, l := range ls {
		out = append(out, templates.LineView{Account: l.Account, Cluster: l.Cluster, Component: l.Component, Jobs: count(l.Jobs), Exact: l.Exact.String(),
			Amount: f.money(l.Amount, currency)})
	}
	return out
}

func (f figures) breakdown(rows []billingpg.PeriodBreakdown, currency string) []templates.BreakdownRow {
	out := make([]templates.BreakdownRow, 0, len(rows))
	for _, b := range rows {
		out = append(out, templates.BreakdownRow{Key: b.Key, Jobs: count(b.Jobs), CoreHours: b.CoreHours, GPUHours: b.GPUHours,
			Total: f.money(b.Total, currency)})
	}
	return out
}

func (f figures) changes(cs []billingpg.PreviewChange, currency string) []templates.ChangeRow {
	out := make([]templates.ChangeRow, 0, len(cs))
	for _, c := range cs {
		out = append(out, templates.ChangeRow{Account: c.Account, Before: f.money(c.Before, currency), Now: f.money(c.Now, currency),
			Diff: f.money(c.Now-c.Before, currency)})
	}
	return out
}

func adjustmentRows(as []billingpg.Adjustment) []templates.AdjustmentRow {
	out := make([]templates.AdjustmentRow, 0, len(as))
	for _, a := range as {
		r := templates.AdjustmentRow{Account: a.Account, User: a.User, Amount: a.Amount.String(), Reason: a.Reason, Author: a.Author}
		r.Job = a.Job
		out = append(out, r)
	}
	return out
}

func anomalyRows(as []billingpg.Anomaly, p billing.Period) []templates.AnomalyRow {
	out := make([]templates.AnomalyRow, 0, len(as))
	for _, a := range as {
		out = append(out, templates.AnomalyRow{Kind: a.Kind, Count: count(a.Count), Detail: a.Detail, Href: anomalyHref(a, p)})
	}
	return out
}

// anomalyHref is where to see what is behind an anomaly: the job list
// narrowed to the period's jobs of that kind, or the ingest page for a
// gap in the records. The job list filters by end day ("to" inclusive).
func anomalyHref(a billingpg.Anomaly, p billing.Period) string {
	q := url.Values{}
	q.Set("from", p.Starts.UTC().Format("2006-01-02"))
	q.Set("to", p.Ends.UTC().Add(-time.Nanosecond).Format("2006-01-02"))
	switch a.Kind {
	case "unrated":
		q.Set("unrated", "1")
	case "unknown_account":
		q.Set("account", a.Example)
	case "unknown_user":
		q.Set("user", a.Example)
	case "large_charge":
		q.Set("sort", "cost")
	case "running":
		// Running at the period's end: they have no end day yet.
		q = url.Values{"state": {"RUNNING"}}
	case "future_end":
		q = url.Values{"q": {a.Example}}
	case "ingest_gap":
		return "/admin/ingest"
	default:
		return ""
	}
	return "/jobs?" + q.Encode()
}

func (f figures) history(h billingpg.AccountHistory) templates.History {
	v := templates.History{Periods: h.Periods}
	for i, a := range h.Accounts {
		row := templates.HistoryRow{Account: a}
		for _, t := range h.Totals[i] {
			row.Cells = append(row.Cells, f.money(t, h.Currency))
		}
		v.Rows = append(v.Rows, row)
	}
	for _, t := range h.Sums {
		v.Sums = append(v.Sums, f.money(t, h.Currency))
	}
	return v
}

func (f figures) summary(s billingpg.Summary) templates.SummaryView {
	return templates.SummaryView{Jobs: count(s.Jobs), CoreHours: s.CoreHours, GPUHours: s.GPUHours,
		Efficiency: strconv.FormatInt(s.EfficiencyPPM/10000, 10) + "%", Total: f.money(s.Total, s.Currency), Idle: f.money(s.Idle, s.Currency)}
}

func (f figures) totals(rows []billingpg.AccountTotals, currency string) []templates.TotalRow {
	out := make([]templates.TotalRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, templates.TotalRow{Name: r.Name, Jobs: count(r.Jobs), Total: f.money(r.Total, currency)})
	}
	return out
}

// statementTotals are the rows of a list of accounts' statements.
func (f figures) statementTotals(sts []billing.Statement) []templates.TotalRow {
	out := make([]templates.TotalRow, 0, len(sts))
	for _, st := range sts {
		out = append(out, templates.TotalRow{Name: st.Account, Jobs: count(st.Jobs), Total: f.money(st.Total, st.Currency)})
	}
	return out
}

func (f figures) jobTotals(t billingpg.JobTotals) templates.JobTotalsView {
	return templates.JobTotalsView{Jobs: count(t.Jobs), CoreHours: t.CoreHours, GPUHours: t.GPUHours, Total: f.money(t.Total, t.Currency)}
}

func (f figures) userStatement(us billingpg.UserStatement) templates.UserStatementView {
	return templates.UserStatementView{Period: us.Period.Name, From: templates.When(&us.Period.Starts), To: templates.When(&us.Period.Ends),
		Status: us.Period.Status, User: us.User, Jobs: count(us.Jobs), CoreHours: us.CoreHours, GPUHours: us.GPUHours,
		Lines: f.lines(us.Lines, us.Currency), Total: f.money(us.Total, us.Currency), ByCluster: len(billing.LineClusters(us.Lines)) > 1}
}
