package templates_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/tally-hpc/tally/templates"
)

// A statement with lines from two clusters has a Cluster column, and its
// Total spans it; a statement from one cluster has none, as before.
func TestStatementClusterColumn(t *testing.T) {
	money := func(s string) templates.Figure { return templates.Figure{Shown: s + " USD", Exact: s} }
	two := []templates.LineView{
		{Account: "physics", Cluster: "cpu", Component: "cpu", Jobs: "1", Exact: "0.200000", Amount: money("0.20")},
		{Account: "physics", Cluster: "gpu", Component: "cpu", Jobs: "2", Exact: "0.072500", Amount: money("0.07")},
		{Account: "physics", Component: "adjustments", Jobs: "1", Exact: "1.005000", Amount: money("1.01")},
	}
	one := []templates.LineView{{Account: "chem", Cluster: "cpu", Component: "cpu", Jobs: "1", Exact: "0.025000", Amount: money("0.03")}}
	render := func(c templ.Component) string {
		t.Helper()
		var b bytes.Buffer
		if err := c.Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, c := range []struct {
		name      string
		component templ.Component
		columns   int
		span      string
	}{
		{"two clusters", templates.PeriodPage(page("Period", "/periods/2026-10"), templates.PeriodView{Statements: []templates.StatementView{
			{Account: "physics", Lines: two, Total: money("1.28"), ByCluster: true}}}), 1, `colspan="4"`},
		{"one cluster", templates.PeriodPage(page("Period", "/periods/2026-10"), templates.PeriodView{Statements: []templates.StatementView{
			{Account: "chem", Lines: one, Total: money("0.03")}}}), 0, `colspan="3"`},
		{"person, two clusters", templates.UserStatementPage(page("Statement", "/statements/2026-10/alice"), templates.UserStatementView{
			User: "alice", Lines: two, Total: money("1.28"), ByCluster: true}), 1, `colspan="5"`},
		{"person, one cluster", templates.UserStatementPage(page("Statement", "/statements/2026-10/alice"), templates.UserStatementView{
			User: "alice", Lines: one, Total: money("0.03")}), 0, `colspan="4"`},
	} {
		html := render(c.component)
		if got := strings.Count(html, "<th>Cluster</th>"); got != c.columns {
			t.Errorf("%s: %d cluster columns, want %d", c.name, got, c.columns)
		}
		if !strings.Contains(html, c.span) {
			t.Errorf("%s: the Total does not span the label columns (%s)", c.name, c.span)
		}
		if c.columns == 1 && (!strings.Contains(html, `<td data-label="Cluster">gpu</td>`) ||
			!strings.Contains(html, `<td data-label="Cluster"></td><td data-label="Component">adjustments</td>`)) {
			t.Errorf("%s: lines do not say their cluster:\n%s", c.name, html)
		}
	}
}
