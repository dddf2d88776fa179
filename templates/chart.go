package templates

import (
	"math"
	"strconv"
)

// ChartSpec is what a chart shows, before it is laid out: the figures
// exactly as the page prints them, and the amounts they stand for in the
// chart's raw unit (micro-units of money, unit-seconds of use). Only
// plotting positions are computed in floating point; every value a
// reader sees (focus label, title, table) is one of the Shown strings.
type ChartSpec struct {
	Title       string
	TestID      string // data-testid of the figure: "chart", "burn-chart"
	Nested      bool   // drawn inside another card, so not a card itself
	Summary     string // the figures in words for screen readers ("" is Title)
	Empty       string // what to say when there is nothing to draw
	YTitle      string // the y axis's quantity and unit: "Charges (USD)"
	XTitle      string // what the x axis counts: "Day the job ended (UTC)"
	KeyHeader   string // the data table's first column: "When"
	ValueHeader string // the data table's value column: "Charges"
	ShowJobs    bool   // the data carries job counts worth a column
	PerUnit     int64  // raw amounts per unit of the y axis (1e6 for money)
	Series      []string
	Data        []ChartDatum
	Ref         *ChartRef // a horizontal line such as a budget, or nil
}

// ChartDatum is one bar.
type ChartDatum struct {
	Tick   string // the short axis label: "Nov 23", "2026-10"
	Label  string // the full label: "Nov 23", "2026-10 (open)"
	Shown  string // the value as the page prints it: "6.00 USD"
	Raw    int64  // the value in the spec's raw unit, for drawing only
	Jobs   int64
	Series int // index into ChartSpec.Series
}

// ChartRef is a horizontal reference line with its label.
type ChartRef struct {
	Name  string // "Budget"
	Shown string
	Raw   int64
}

// Chart is a laid-out SVG bar chart: coordinates in the viewBox's units,
// already formatted, so the template only prints.
type Chart struct {
	Title       string
	TestID      string
	Nested      bool
	Summary     string
	Empty       string
	Width       int
	Height      int
	Left        string // the plot area's edges
	Right       string
	Top         string
	Bottom      string
	PlotHeight  string
	YLabelX     string // where the y tick labels end
	TickEnd     string // the bottom of an x tick mark
	RefLabelX   string
	YTitle      string
	XTitle      string
	XTitleX     string
	YTicks      []ChartTick
	XTicks      []ChartTick
	Points      []ChartPoint
	Ref         *ChartRefLine
	Legend      []LegendEntry
	KeyHeader   string
	ValueHeader string
	ShowJobs    bool
}

// ChartTick is one labelled tick of an axis. Dense ticks are dropped on
// narrow screens, where the labels are drawn larger.
type ChartTick struct {
	Pos   string // y of a y tick, x of an x tick
	Label string
	Dense bool
}

// ChartPoint is one drawn bar, focusable, with its value label.
type ChartPoint struct {
	Label, Shown string
	Jobs         int64
	ARIA         string // "Nov 23: 6.00 USD, 3 jobs"
	Class        string // "bar s0"
	X, Y, W, H   string
	HitX, HitW   string // the full-height column that takes taps
	ValueX       string
	ValueY       string
	Anchor       string // text-anchor of the value label
}

// ChartRefLine is a drawn reference line.
type ChartRefLine struct {
	Y, LabelY string
	Text      string
}

// LegendEntry names one series; Class matches its bars (or "line"). A
// chart of several possible series lists those it draws, even one alone,
// since its colour then still needs saying.
type LegendEntry struct {
	Name  string
	Class string
}

// The chart's geometry, in viewBox units. The SVG keeps this aspect
// ratio at every width; the stylesheet draws the text larger on narrow
// screens (narrowFont), so margins and tick spacing allow for both.
const (
	chartWidth  = 720
	chartHeight = 320
	plotLeft    = 78
	plotRight   = chartWidth - 14
	plotTop     = 36
	plotBottom  = chartHeight - 64
	wideFont    = 13 // font-size of chart text in viewBox units (tally.css)
	narrowFont  = 24 // the same on narrow screens
	yIntervals  = 5  // at most this many steps up the y axis
)

// DrawChart lays a spec out as an SVG chart.
func DrawChart(s ChartSpec) Chart {
	c := Chart{Title: s.Title, TestID: s.TestID, Nested: s.Nested, Summary: s.Summary, Empty: s.Empty,
		Width: chartWidth, Height: chartHeight, YTitle: s.YTitle, XTitle: s.XTitle,
		KeyHeader: s.KeyHeader, ValueHeader: s.ValueHeader, ShowJobs: s.ShowJobs,
		Left: coord(plotLeft), Right: coord(plotRight), Top: coord(plotTop), Bottom: coord(plotBottom),
		PlotHeight: coord(plotBottom - plotTop), YLabelX: coord(plotLeft - 8), TickEnd: coord(plotBottom + 5), RefLabelX: coord(plotRight - 4),
		XTitleX: coord((plotLeft + plotRight) / 2)}
	if c.Summary == "" {
		c.Summary = s.Title
	}
	if len(s.Data) == 0 {
		return c
	}
	per := float64(max(s.PerUnit, 1))
	lo, hi := 0.0, 0.0
	for _, d := range s.Data {
		v := float64(d.Raw) / per
		lo, hi = min(lo, v), max(hi, v)
	}
	if s.Ref != nil {
		v := float64(s.Ref.Raw) / per
		lo, hi = min(lo, v), max(hi, v)
	}
	ticks, step := NiceTicks(lo, hi, yIntervals)
	bottom, top := ticks[0], ticks[len(ticks)-1]
	y := func(v float64) float64 {
		return plotBottom - (v-bottom)/(top-bottom)*(plotBottom-plotTop)
	}
	for _, t := range ticks {
		c.YTicks = append(c.YTicks, ChartTick{Pos: coord(y(t)), Label: TickLabel(t, step, max(-bottom, top))})
	}

	n := len(s.Data)
	slot := float64(plotRight-plotLeft) / float64(n)
	longest := 0
	for _, d := range s.Data {
		longest = max(longest, len([]rune(d.Tick)))
	}
	dense, sparse := XTickSteps(n, slot, longest)
	used := make([]bool, len(s.Series))
	for i, d := range s.Data {
		mid := plotLeft + slot*(float64(i)+.5)
		if (n-1-i)%dense == 0 {
			c.XTicks = append(c.XTicks, ChartTick{Pos: coord(mid), Label: d.Tick, Dense: (n-1-i)%sparse != 0})
		}
		v := float64(d.Raw) / per
		y0, y1 := y(max(v, 0)), y(min(v, 0))
		w := max(slot*.72, 1)
		p := ChartPoint{Label: d.Label, Shown: d.Shown, Jobs: d.Jobs, ARIA: d.Label + ": " + d.Shown,
			Class: "bar s" + strconv.Itoa(d.Series),
			X:     coord(mid - w/2), Y: coord(y0), W: coord(w), H: coord(y1 - y0),
			HitX: coord(mid - slot/2), HitW: coord(slot),
			ValueY: coord(max(y0-8, plotTop+narrowFont)), Anchor: "middle"}
		if s.ShowJobs {
			p.ARIA += ", " + Count(d.Jobs) + " job" + plural(int(d.Jobs))
		}
		// Keep the value label inside the picture: its width is a guess
		// from its length at the larger, narrow-screen size.
		half := float64(len([]rune(p.Label+": "+p.Shown))) * narrowFont * .3
		switch {
		case mid-half < plotLeft:
			p.ValueX, p.Anchor = coord(max(mid-slot/2, 2)), "start"
		case mid+half > chartWidth-2:
			p.ValueX, p.Anchor = coord(min(mid+slot/2, chartWidth-2)), "end"
		default:
			p.ValueX = coord(mid)
		}
		c.Points = append(c.Points, p)
		if d.Series >= 0 && d.Series < len(used) {
			used[d.Series] = true
		}
	}
	for i, name := range s.Series {
		if used[i] {
			c.Legend = append(c.Legend, LegendEntry{Name: name, Class: "s" + strconv.Itoa(i)})
		}
	}
	if s.Ref != nil {
		ry := y(float64(s.Ref.Raw) / per)
		c.Ref = &ChartRefLine{Y: coord(ry), LabelY: coord(max(ry-6, plotTop-4)), Text: s.Ref.Name + " " + s.Ref.Shown}
		c.Legend = append(c.Legend, LegendEntry{Name: s.Ref.Name + " (" + s.Ref.Shown + ")", Class: "line"})
	}
	if len(s.Series) < 2 && s.Ref == nil {
		c.Legend = nil // one series needs no key: the caption names it
	}
	return c
}

// NiceTicks returns the ticks of an axis that covers lo..hi (lo <= 0 <=
// hi, in the axis's unit) in at most maxSteps equal steps of 1, 2 or 5
// times a power of ten, from a multiple of the step at or below lo to one
// at or above hi; zero is always a tick. An empty range gets 0..1.
func NiceTicks(lo, hi float64, maxSteps int) ([]float64, float64) {
	lo, hi = min(lo, 0), max(hi, 0)
	if hi-lo <= 0 || math.IsNaN(hi-lo) || math.IsInf(hi-lo, 0) {
		lo, hi = 0, 1
	}
	maxSteps = max(maxSteps, 1)
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(maxSteps))))
	const slack = 1e-9 // amounts a rounding error above a tick stay on it
	for {
		for _, m := range []float64{1, 2, 5} {
			step := m * mag
			first := math.Floor(lo/step + slack)
			last := math.Ceil(hi/step - slack)
			if int(last-first) <= maxSteps {
				ticks := make([]float64, 0, int(last-first)+1)
				for i := first; i <= last; i++ {
					ticks = append(ticks, i*step)
				}
				return ticks, step
			}
		}
		mag *= 10
	}
}

// TickLabel prints a tick of an axis with this step, compactly: as many
// decimals as the step needs, and in thousands (k) or millions (M) when
// the axis reaches ten of them, so labels stay short at any width.
func TickLabel(v, step, extent float64) string {
	div, suffix := 1.0, ""
	switch {
	case extent >= 10e6:
		div, suffix = 1e6, "M"
	case extent >= 10e3:
		div, suffix = 1e3, "k"
	}
	decimals := 0
	if s := step / div; s < 1 {
		decimals = int(math.Ceil(-math.Log10(s) - 1e-9))
	}
	out := strconv.FormatFloat(v/div, 'f', decimals, 64)
	if v == 0 || out == "-"+strconv.FormatFloat(0, 'f', decimals, 64) {
		return "0"
	}
	return out + suffix
}

// XTickSteps chooses every how many bars an x label goes, for n bars
// slot units apart with labels of up to chars characters: dense at the
// wide size, sparse (a multiple of dense, so its ticks are a subset) at
// the narrow one. Labels are counted back from the last bar, the newest.
func XTickSteps(n int, slot float64, chars int) (dense, sparse int) {
	need := func(font float64) float64 { return float64(chars)*font*.62 + font }
	dense = niceCount(need(wideFont) / slot)
	sparse = dense * int(math.Ceil(need(narrowFont)/slot/float64(dense)))
	return min(dense, max(n, 1)), max(min(sparse, max(n, 1)), 1)
}

// niceCount is the smallest of 1, 2, 3, 5, 7, 10, 14, 20, 30, 50, 100,
// ... at or above x: steps of days and months people count in.
func niceCount(x float64) int {
	for _, c := range []int{1, 2, 3, 5, 7, 10, 14} {
		if float64(c) >= x {
			return c
		}
	}
	for mag := 10; ; mag *= 10 {
		for _, m := range []int{2, 3, 5, 10} {
			if float64(m*mag) >= x {
				return m * mag
			}
		}
	}
}

// coord prints a viewBox coordinate to a tenth of a unit.
func coord(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}
