package web

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tally-hpc/tally/internal/testenv"
)

// A person signs in through a real browser, sees their name and roles,
// and signs out.
func TestBrowserLoginJourney(t *testing.T) {
	e := newAuthServer(t, hs256Key(t), nil)
	ctx := testenv.Browser(t)
	var consoleErrors []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			consoleErrors = append(consoleErrors, ev.ExceptionDetails.Text)
		}
	})

	var header, url, afterWrong, signedOut string
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+"/me"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, "tally-t-admin"),
		chromedp.SendKeys(`input[name=password]`, "not-the-password"),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`.flash.error`),
		chromedp.Text(`.flash.error`, &afterWrong),
		chromedp.SendKeys(`input[name=password]`, "tally-admin-pw"),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#slurm-access`),
		chromedp.Location(&url),
		chromedp.Text(`.who`, &header),
		chromedp.Click(`.who button`),
		chromedp.WaitVisible(`.flash`),
		chromedp.Text(`.flash`, &signedOut),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(afterWrong, "did not work") {
		t.Errorf("wrong password message %q", afterWrong)
	}
	if !strings.HasSuffix(url, "/me") {
		t.Errorf("not brought back to /me: %s", url)
	}
	if !strings.Contains(header, "tally-t-admin") || !strings.Contains(header, "admin") {
		t.Errorf("header %q lacks name or role", header)
	}
	if !strings.Contains(signedOut, "signed out") {
		t.Errorf("after sign-out: %q", signedOut)
	}
	if len(consoleErrors) > 0 {
		t.Errorf("script errors: %v", consoleErrors)
	}
}
