package postgres

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// docs/money.md's worked example, figure by figure.
func TestMoneyWorkedExample(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	rateOctober(t, s, pool)
	if _, err := s.AddAdjustment(ctx, Adjustment{Period: "2026-10", Account: "physics", User: "alice", Amount: 1_005_000, Reason: "late fee", Author: "test"}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ exact, amount string }
	want := map[string]map[string]line{
		"chem":    {"cpu": {"0.022500", "0.020000"}, "mem": {"0.005625", "0.010000"}},
		"physics": {"cpu": {"0.204000", "0.200000"}, "mem": {"0.200500", "0.200000"}, "adjustments": {"1.005000", "1.010000"}},
	}
	wantTotal := map[string]string{"chem": "0.030000", "physics": "1.410000"}
	wantJobs := map[string]int{"chem": 1, "physics": 2}
	for _, st := range ps.Statements {
		if st.Total.String() != wantTotal[st.Account] || st.Jobs != wantJobs[st.Account] || len(st.Lines) != len(want[st.Account]) {
			t.Errorf("%s: total %s, jobs %d, lines %+v", st.Account, st.Total, st.Jobs, st.Lines)
		}
		for _, l := range st.Lines {
			if w := want[st.Account][l.Component]; l.Exact.String() != w.exact || l.Amount.String() != w.amount {
				t.Errorf("%s %s: %s -> %s, want %s -> %s", st.Account, l.Component, l.Exact, l.Amount, w.exact, w.amount)
			}
		}
	}
	if ps.Total.String() != "1.440000" || ps.Jobs != 3 {
		t.Errorf("period: %s, %d jobs", ps.Total, ps.Jobs)
	}
	sums, err := s.PeriodSummaries(ctx, nil, billing.HalfUp)
	if err != nil || len(sums) != 2 || sums[1].Name != "2026-10" || sums[1].Total.String() != "1.440000" || sums[1].Jobs != 3 {
		t.Errorf("periods list: %+v %v", sums, err)
	}
	var jobs bytes.Buffer
	if err := s.WriteJobLines(ctx, &jobs, "2026-10", nil); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(&jobs).ReadAll()
	var exact billing.Micros
	for _, r := range rows[1:] {
		m, err := billing.ParseMicros(r[len(r)-3])
		if err != nil {
			t.Fatal(err)
		}
		exact += m
	}
	if len(rows) != 4 || exact.String() != "0.432625" {
		t.Errorf("job lines: %d rows, total column %s", len(rows)-1, exact)
	}
	for user, w := range map[string]struct {
		total string
		jobs  int64
	}{"alice": {"1.410000", 1}, "dave": {"0.000000", 1}, "bob": {"0.030000", 1}} {
		us, err := s.UserStatement(ctx, "2026-10", user, nil, billing.HalfUp)
		if err != nil || us.Total.String() != w.total || us.Jobs != w.jobs {
			t.Errorf("%s: %s, %d jobs (%v); want %s, %d", user, us.Total, us.Jobs, err, w.total, w.jobs)
		}
	}
}
