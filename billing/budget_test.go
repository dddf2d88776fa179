package billing

import (
	"testing"
	"time"
)

func TestBudgetThresholdsAndForecast(t *testing.T) {
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Budget{Account: "physics", Unit: UnitMoney, Currency: "USD", Amount: 1000 * MicrosPerUnit, Starts: jan, Ends: jan.AddDate(1, 0, 0),
		Thresholds: DefaultThresholds(), RunsOutDays: 30}
	now := jan.AddDate(0, 6, 0)
	for _, c := range []struct {
		name              string
		charged, accruing int64
		recent            int64
		crossed           []int
		runsOut           *time.Time
		soon              bool
	}{
		{"nothing spent", 0, 0, 0, nil, nil, false},
		{"just under 80 %", 799_999_999, 0, 0, []int{50}, nil, false},
		{"80 % with what is running", 700 * MicrosPerUnit, 100 * MicrosPerUnit, 0, []int{50, 80}, nil, false},
		// 200 left at 140 a fortnight: 20 days.
		{"runs out in 20 days", 800 * MicrosPerUnit, 0, 140 * MicrosPerUnit, []int{50, 80}, ptr(now.Add(20 * 24 * time.Hour)), true},
		// 500 left at 14 a fortnight: 500 days, beyond the range.
		{"lasts the range", 500 * MicrosPerUnit, 0, 14 * MicrosPerUnit, []int{50}, nil, false},
		{"overspent", 1200 * MicrosPerUnit, 0, 14 * MicrosPerUnit, []int{50, 80, 100}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bal := NewBalance(b, now, c.charged, c.accruing, c.recent)
			if got := bal.Crossed(); !equalInts(got, c.crossed) {
				t.Errorf("crossed %v, want %v", got, c.crossed)
			}
			if (bal.RunsOut == nil) != (c.runsOut == nil) || (c.runsOut != nil && !bal.RunsOut.Equal(*c.runsOut)) {
				t.Errorf("runs out %v, want %v", bal.RunsOut, c.runsOut)
			}
			if bal.RunsOutSoon() != c.soon {
				t.Errorf("runs out soon %v", bal.RunsOutSoon())
			}
		})
	}
}

func TestBudgetValidateAndAmounts(t *testing.T) {
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := Budget{Account: "a", Unit: UnitCoreHours, Amount: 3600, Starts: jan, Ends: jan.AddDate(0, 3, 0)}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Budget){
		"mid-month start":    func(b *Budget) { b.Starts = jan.AddDate(0, 0, 3) },
		"end before start":   func(b *Budget) { b.Ends = jan.AddDate(0, -1, 0) },
		"no account":         func(b *Budget) { b.Account = " " },
		"zero amount":        func(b *Budget) { b.Amount = 0 },
		"unknown unit":       func(b *Budget) { b.Unit = "furlongs" },
		"money, no currency": func(b *Budget) { b.Unit = UnitMoney },
		"threshold 0":        func(b *Budget) { b.Thresholds = []int{0} },
		"ten years":          func(b *Budget) { b.Ends = jan.AddDate(10, 0, 0) },
	} {
		b := ok
		mut(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, c := range []struct {
		unit BudgetUnit
		in   string
		want int64
	}{{UnitMoney, "12.50", 12_500_000}, {UnitCoreHours, "1.5", 5400}, {UnitGPUHours, "0.0001", 0}, {UnitBilling, "1000", 3_600_000}} {
		if got, err := ParseBudgetAmount(c.unit, c.in); err != nil || got != c.want {
			t.Errorf("%s %q: %d %v, want %d", c.unit, c.in, got, err, c.want)
		}
	}
	if _, err := ParseBudgetAmount(UnitCoreHours, "99999999999999999999"); err == nil {
		t.Error("a huge amount was accepted")
	}
	if got := FormatHours(5399); got != "1.49" {
		t.Errorf("FormatHours(5399) = %s", got)
	}
}

func ptr(t time.Time) *time.Time { return &t }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
