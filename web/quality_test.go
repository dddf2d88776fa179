package web

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Every page an admin can reach: under 100 KB of HTML and CSS on a first
// visit, no sideways scrolling on a 375-pixel phone (wide tables scroll in
// their own box), and a keyboard user's first Tab reaches the skip link.
func TestPagesLightResponsiveKeyboard(t *testing.T) {
	e := newAuthServer(t, "", nil)
	period, rows := seedJourneys(t, e)
	pages := []string{"/", "/jobs", fmt.Sprintf("/jobs/%d", rows[101]), "/estimate", "/statements", "/accounts", "/accounts/physics",
		"/periods", "/periods/" + period, "/finance", "/admin/rates", "/admin/accounts", "/admin/ingest", "/admin/users", "/admin/audit", "/me", "/prices"}

	// Weight, measured as a first visit fetches it: the page and its stylesheet.
	b := newBrowser(t, e)
	b.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	_, home := b.get("/")
	css := parseHTML(t, home).Find(`link[rel=stylesheet]`).AttrOr("href", "")
	resp, err := http.Get(e.http.URL + css)
	if err != nil {
		t.Fatal(err)
	}
	cssBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, p := range pages {
		resp, body := b.get(p)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		if n := len(body) + len(cssBody); n > 100_000 {
			t.Errorf("%s: %d bytes of HTML and CSS, over 100 KB", p, n)
		}
	}

	j := newJourney(t, e)
	j.login("tally-t-admin")
	j.run(emulation.SetDeviceMetricsOverride(375, 740, 2, true))
	for _, p := range pages {
		var overflow bool
		var focused string
		j.run(chromedp.Navigate(j.base+p), chromedp.WaitVisible(`main`),
			chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow),
			input.DispatchKeyEvent(input.KeyDown).WithKey("Tab").WithCode("Tab").WithWindowsVirtualKeyCode(9),
			input.DispatchKeyEvent(input.KeyUp).WithKey("Tab").WithCode("Tab").WithWindowsVirtualKeyCode(9),
			chromedp.Evaluate(`document.activeElement ? document.activeElement.textContent : ""`, &focused))
		if overflow {
			j.shot("overflow" + strings.ReplaceAll(p, "/", "_"))
			t.Errorf("%s scrolls sideways on a phone", p)
		}
		if strings.TrimSpace(focused) != "Skip to content" {
			t.Errorf("%s: first Tab focuses %q, not the skip link", p, focused)
		}
	}
	j.shot("phone-last-page")
}
