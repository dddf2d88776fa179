package web

import (
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// A short table's headings are buttons: Tab reaches them and Enter sorts,
// numbers as numbers, the order announced with aria-sort.
func TestSortableHeadersFromTheKeyboard(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedJourneys(t, e)
	j := newJourney(t, e)
	j.login("tally-t-admin")
	var buttons int
	var sorted, first string
	enter := chromedp.Tasks{
		input.DispatchKeyEvent(input.KeyDown).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).WithText("\r"),
		input.DispatchKeyEvent(input.KeyUp).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13),
	}
	j.run(chromedp.Navigate(j.base+"/"), chromedp.WaitVisible(`main`),
		chromedp.Evaluate(`document.querySelectorAll("table[data-sortable] th > button.sort").length`, &buttons),
		chromedp.Focus(`table[data-sortable] th.num > button.sort`, chromedp.ByQuery), enter,
		chromedp.Evaluate(`document.querySelector("table[data-sortable] th.num").getAttribute("aria-sort") || ""`, &sorted),
		chromedp.Evaluate(`(function(){ var t = document.querySelector("table[data-sortable]"); var i = Array.prototype.indexOf.call(t.tHead.rows[0].cells, t.querySelector("th.num"));
			var v = Array.prototype.map.call(t.tBodies[0].rows, function(r){ return parseFloat(r.cells[i].getAttribute("data-value") || r.cells[i].textContent.replace(/[^0-9.-]/g, "")) });
			for (var k = 1; k < v.length; k++) { if (v[k] < v[k-1]) return "out of order: " + v.join(" "); } return "ok"; })()`, &first))
	if buttons == 0 {
		t.Fatal("no sortable heading is a button")
	}
	if sorted != "ascending" || first != "ok" {
		t.Errorf("Enter on a numeric heading: aria-sort %q, rows %s", sorted, first)
	}
}
