package templates

import (
	"slices"
	"strings"
	"testing"
)

// The y axis steps by 1, 2 or 5 times a power of ten, starts and ends on
// a step, keeps zero, and needs no more steps than asked.
func TestChartNiceTicks(t *testing.T) {
	for _, c := range []struct {
		name     string
		lo, hi   float64
		steps    int
		want     []string // labels
		wantStep float64
	}{
		{"euros and cents", 0, 12.35, 5, []string{"0", "5", "10", "15"}, 5},
		{"exactly on a step", 0, 100, 5, []string{"0", "20", "40", "60", "80", "100"}, 20},
		{"a hair above a step stays on it", 0, 100.0000000001, 5, []string{"0", "20", "40", "60", "80", "100"}, 20},
		{"just above a step", 0, 101, 5, []string{"0", "50", "100", "150"}, 50},
		{"small amounts", 0, 0.07, 5, []string{"0", "0.02", "0.04", "0.06", "0.08"}, 0.02},
		{"tenths print without float noise", 0, 0.3, 3, []string{"0", "0.1", "0.2", "0.3"}, 0.1},
		{"nothing yet", 0, 0, 5, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}, 0.2},
		{"thousands", 0, 12000, 5, []string{"0", "5k", "10k", "15k"}, 5000},
		{"below ten thousand in full", 0, 7300, 5, []string{"0", "2000", "4000", "6000", "8000"}, 2000},
		{"millions", 0, 23e6, 5, []string{"0", "5M", "10M", "15M", "20M", "25M"}, 5e6},
		{"fractions of thousands", 0, 14000, 7, []string{"0", "2k", "4k", "6k", "8k", "10k", "12k", "14k"}, 2000},
		{"a refund below zero", -3, 9, 5, []string{"-5", "0", "5", "10"}, 5},
		{"only below zero", -40, 0, 4, []string{"-40", "-30", "-20", "-10", "0"}, 10},
		{"one step", 0, 7, 1, []string{"0", "10"}, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			ticks, step := NiceTicks(c.lo, c.hi, c.steps)
			var got []string
			for _, v := range ticks {
				got = append(got, TickLabel(v, step, max(-ticks[0], ticks[len(ticks)-1])))
			}
			if !slices.Equal(got, c.want) || step != c.wantStep {
				t.Errorf("NiceTicks(%v, %v, %d) = %v step %v, want %v step %v", c.lo, c.hi, c.steps, got, step, c.want, c.wantStep)
			}
			if len(ticks)-1 > c.steps || ticks[0] > c.lo || ticks[len(ticks)-1] < c.hi*(1-1e-9) {
				t.Errorf("ticks %v do not cover %v..%v in %d steps", ticks, c.lo, c.hi, c.steps)
			}
		})
	}
}

// X labels thin out so they never overlap, more on narrow screens, where
// the labels kept are a subset of the wide ones.
func TestChartXTickSteps(t *testing.T) {
	for _, c := range []struct {
		name          string
		n, chars      int
		dense, sparse int
	}{
		{"30 days", 30, 6, 3, 6},
		{"12 periods", 12, 7, 2, 4},
		{"4 periods", 4, 7, 1, 1},
		{"one day", 1, 6, 1, 1},
		{"a year of days", 365, 6, 50, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			slot := float64(plotRight-plotLeft) / float64(c.n)
			dense, sparse := XTickSteps(c.n, slot, c.chars)
			if dense != c.dense || sparse != c.sparse {
				t.Errorf("XTickSteps(%d bars, %d chars) = %d, %d; want %d, %d", c.n, c.chars, dense, sparse, c.dense, c.sparse)
			}
			if sparse%dense != 0 {
				t.Errorf("sparse step %d is not a multiple of dense %d", sparse, dense)
			}
			// Labels at each size are at least their own width apart.
			for _, f := range []struct {
				step int
				font float64
			}{{dense, wideFont}, {sparse, narrowFont}} {
				if c.n > f.step && float64(f.step)*slot < float64(c.chars)*f.font*.6 {
					t.Errorf("labels every %d bars (%.0f units) overlap at font %v", f.step, float64(f.step)*slot, f.font)
				}
			}
		})
	}
}

// A laid-out chart: bars at the figures' heights, the newest day always
// labelled, every bar named for screen readers, a legend only with
// several possible series (or a line), and the line inside the axis.
func TestChartDraw(t *testing.T) {
	spec := ChartSpec{Title: "t", YTitle: "Charges (USD)", PerUnit: 1_000_000, ShowJobs: true,
		Series: []string{"Closed", "Open"}}
	for i := range 30 {
		spec.Data = append(spec.Data, ChartDatum{Tick: "d", Label: "day", Shown: "1.00 USD", Raw: int64(i) * 1_000_000, Jobs: 1})
	}
	c := DrawChart(spec)
	// 29 of an axis up to 30 (0, 10, 20, 30), the plot 220 units high.
	if len(c.Points) != 30 || c.Points[29].H != "212.7" || c.Points[0].H != "0" || c.YTicks[3].Label != "30" {
		t.Errorf("bars: %d, heights %s..%s", len(c.Points), c.Points[0].H, c.Points[29].H)
	}
	if last := c.XTicks[len(c.XTicks)-1]; last.Dense || last.Pos != coord(plotRight-float64(plotRight-plotLeft)/60) {
		t.Errorf("the newest bar is not labelled at every width: %+v", last)
	}
	if c.Points[3].ARIA != "day: 1.00 USD, 1 job" {
		t.Errorf("aria-label %q", c.Points[3].ARIA)
	}
	if len(c.Legend) != 1 || c.Legend[0].Name != "Closed" {
		t.Errorf("of two series, one drawn; legend %v", c.Legend)
	}
	spec.Series = nil
	if c := DrawChart(spec); c.Legend != nil {
		t.Errorf("a chart of one series has a legend: %v", c.Legend)
	}
	spec.Series = []string{"Closed", "Open"}
	spec.Data[29].Series = 1
	spec.Ref = &ChartRef{Name: "Budget", Shown: "40.00 USD", Raw: 40_000_000}
	c = DrawChart(spec)
	var names []string
	for _, l := range c.Legend {
		names = append(names, l.Name)
	}
	if strings.Join(names, "|") != "Closed|Open|Budget (40.00 USD)" {
		t.Errorf("legend %v", names)
	}
	if c.YTicks[len(c.YTicks)-1].Label != "40" || c.Ref.Y != c.Top {
		t.Errorf("top tick %q, budget line at %s, plot top %s", c.YTicks[len(c.YTicks)-1].Label, c.Ref.Y, c.Top)
	}
	if empty := DrawChart(ChartSpec{Title: "t", Empty: "Nothing"}); len(empty.Points) != 0 || empty.Summary != "t" {
		t.Errorf("empty chart %+v", empty)
	}
}
