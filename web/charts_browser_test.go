package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// chartMeasure is what the browser reports of the dashboard's chart.
type chartMeasure struct {
	Width, Height   float64 // the SVG as drawn, in CSS pixels
	TickFont        float64 // the height of a y tick label's box
	XLabels         int     // x tick labels shown
	Overlap         string  // two shown x labels that overlap, if any
	AxisTitle, Unit string
}

const measureChart = `(() => {
  const svg = document.querySelector("[data-testid=chart] svg");
  const r = svg.getBoundingClientRect();
  const shown = [...svg.querySelectorAll(".xtick")].filter(t => getComputedStyle(t).display !== "none").map(t => t.getBoundingClientRect());
  let overlap = "";
  for (let i = 1; i < shown.length; i++) if (shown[i].left < shown[i-1].right) overlap = i + "";
  return {Width: r.width, Height: r.height, TickFont: svg.querySelector(".ytick").getBoundingClientRect().height,
    XLabels: shown.length, Overlap: overlap, AxisTitle: svg.querySelector(".axis-title").textContent};
})()`

// The dashboard's chart keeps its aspect ratio on a phone and on a
// projector, with labels readable and apart; a keyboard reaches a bar
// and shows its value, and a tap on a bar does the same.
func TestChartsInBrowser(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedJourneys(t, e)
	j := newJourney(t, e)
	j.login("tally-t-alice")
	for _, w := range []int64{390, 1400} {
		var m chartMeasure
		j.run(emulation.SetDeviceMetricsOverride(w, 900, 1, w < 600),
			chromedp.Navigate(j.base+"/"), chromedp.WaitVisible(`[data-testid=chart] svg .point`),
			chromedp.Evaluate(measureChart, &m))
		j.shot(fmt.Sprintf("dashboard-%d", w))
		chartShot(j, "[data-testid=chart]", fmt.Sprintf("chart-%d", w))
		if m.Height <= 120 || m.Height > 600 {
			t.Errorf("%d px wide: chart %0.f px high", w, m.Height)
		}
		if ratio := m.Width / m.Height; ratio < 2.2 || ratio > 2.3 {
			t.Errorf("%d px wide: chart %0.f×%0.f px, stretched from 720×320", w, m.Width, m.Height)
		}
		if m.TickFont < 10 || m.TickFont > 30 {
			t.Errorf("%d px wide: tick labels %0.1f px high", w, m.TickFont)
		}
		if m.XLabels < 3 || m.Overlap != "" {
			t.Errorf("%d px wide: %d date labels, overlapping at %q", w, m.XLabels, m.Overlap)
		}
		if !strings.Contains(m.AxisTitle, "USD") {
			t.Errorf("y axis title %q has no unit", m.AxisTitle)
		}
	}

	// Keyboard: Tab until a bar has focus; its value shows beside it.
	tab := []chromedp.Action{input.DispatchKeyEvent(input.KeyDown).WithKey("Tab").WithCode("Tab").WithWindowsVirtualKeyCode(9),
		input.DispatchKeyEvent(input.KeyUp).WithKey("Tab").WithCode("Tab").WithWindowsVirtualKeyCode(9)}
	onBar := false
	for range 60 {
		j.run(tab...)
		j.run(chromedp.Evaluate(`document.activeElement.matches("[data-testid=chart] .point")`, &onBar))
		if onBar {
			break
		}
	}
	if !onBar {
		t.Fatal("60 presses of Tab never reach a bar of the chart")
	}
	end := []chromedp.Action{input.DispatchKeyEvent(input.KeyDown).WithKey("End").WithCode("End").WithWindowsVirtualKeyCode(35),
		input.DispatchKeyEvent(input.KeyUp).WithKey("End").WithCode("End").WithWindowsVirtualKeyCode(35)}
	j.run(end...)
	const shownValue = `(() => {
	  const p = document.activeElement, svg = p.ownerSVGElement, tip = svg.querySelector(".tip");
	  const label = tip && getComputedStyle(tip).visibility === "visible" ? tip : p.querySelector(".value");
	  return [p.getAttribute("aria-label"), getComputedStyle(label).visibility, label.textContent,
	    String(label.getBoundingClientRect().height), document.querySelector("[data-testid=chart] tbody tr:last-child [data-testid=total]").textContent];
	})()`
	var got []string
	j.run(chromedp.Evaluate(shownValue, &got))
	chartShot(j, "[data-testid=chart]", "chart-bar-focused")
	if aria, vis, text, total := got[0], got[1], got[2], got[4]; vis != "visible" || !strings.Contains(text, total) || !strings.HasPrefix(aria, text) {
		t.Errorf("the newest bar has focus (%q); its value label %q is %s, the table says %q", aria, text, vis, total)
	}
	if got[3] == "0" {
		t.Error("the focused bar's value label has no size")
	}

	// Touch: a tap on a bar focuses it, so its value shows.
	var tapped string
	j.run(emulation.SetDeviceMetricsOverride(390, 844, 2, true), chromedp.Navigate(j.base+"/"),
		chromedp.WaitVisible(`[data-testid=chart] svg .point`),
		chromedp.Click(`[data-testid=chart] .point:last-of-type .hit`),
		chromedp.Evaluate(`document.activeElement.getAttribute("aria-label") || ""`, &tapped))
	chartShot(j, "[data-testid=chart]", "chart-bar-tapped")
	if !strings.Contains(tapped, "USD") {
		t.Errorf("a tap on the newest bar focuses %q", tapped)
	}

	// An account's page on a phone: the trend over periods and a budget's
	// burn chart with a legend of its bars and its line.
	t.Run("account", func(t *testing.T) { accountChartsOnPhone(t, e) })
}

func accountChartsOnPhone(t *testing.T, e *testEnv) {
	month := monthStart(time.Now())
	if _, _, err := billingpg.New(e.srv.pool).SetBudget(context.Background(), billing.Budget{Account: "physics", Unit: billing.UnitMoney,
		Currency: "USD", Amount: 2_000_000, Starts: month.AddDate(0, -1, 0), Ends: month.AddDate(0, 2, 0), Thresholds: billing.DefaultThresholds()}); err != nil {
		t.Fatal(err)
	}
	a := newJourney(t, e)
	a.login("tally-t-admin")
	var sizes []float64
	var legends []string
	a.run(emulation.SetDeviceMetricsOverride(390, 844, 2, true), chromedp.Navigate(a.base+"/accounts/physics"),
		chromedp.WaitVisible(`[data-testid=burn-chart] svg`),
		chromedp.Evaluate(`[..."[data-testid=account-trend] svg,[data-testid=burn-chart] svg".split(",")].map(s => document.querySelector(s).getBoundingClientRect().height)`, &sizes),
		chromedp.Evaluate(`[...document.querySelectorAll("[data-testid=burn-chart] .chart-legend li")].map(l => l.textContent)`, &legends))
	a.shot("account-390")
	chartShot(a, "[data-testid=burn-chart]", "burn-chart-390")
	chartShot(a, "[data-testid=account-trend]", "trend-chart-390")
	for _, h := range sizes {
		if h <= 120 {
			t.Errorf("account page on a phone: charts %v px high", sizes)
		}
	}
	if want := "Spent by the period's end|Budget (2.00 USD)"; strings.Join(legends, "|") != want {
		t.Errorf("legends %q, want %q", legends, want)
	}
}

// chartShot saves a screenshot of one chart alone beside the journey's,
// for a human to judge its legibility.
func chartShot(j *journey, selector, name string) {
	var png []byte
	if err := chromedp.Run(j.ctx, chromedp.Screenshot(selector, &png, chromedp.NodeVisible)); err != nil {
		j.t.Logf("screenshot %s: %v", name, err)
		return
	}
	j.n++
	os.WriteFile(filepath.Join(j.shots, fmt.Sprintf("%02d-%s.png", j.n, name)), png, 0o644)
}
