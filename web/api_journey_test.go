package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A researcher makes a token on Your account in a real browser, copies it
// from the page, uses it, and revokes it with the button.
func TestJourneyAPIToken(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	j := newJourney(t, e)
	j.login("tally-t-alice")
	j.run(chromedp.Navigate(j.base + "/me"))
	j.run(chromedp.WaitVisible(`#api-tokens`), chromedp.SendKeys(`input[name=name]`, "my laptop"))
	j.follow(`form[action="/me/tokens"] button[type=submit]`, `[data-testid=new-token]`)
	j.shot("token-made")
	var token string
	j.run(chromedp.Text(`[data-testid=token-value]`, &token))
	token = strings.TrimSpace(token)
	if !apiTokenPattern.MatchString(token) {
		t.Fatalf("the page shows %q as the token", token)
	}
	if resp, body := apiGet(t, e, "/api/v1/me", token); resp.StatusCode != 200 || !strings.Contains(body, "tally-t-alice") {
		t.Fatalf("the copied token: %d", resp.StatusCode)
	}
	j.run(chromedp.Navigate(j.base + "/me"))
	j.follow(`[data-testid=api-tokens] form button[type=submit]`, `.flash`)
	j.shot("token-revoked")
	if resp, _ := apiGet(t, e, "/api/v1/me", token); resp.StatusCode != 401 {
		t.Fatalf("the revoked token: %d", resp.StatusCode)
	}
	var listed string
	j.run(chromedp.Text(`[data-testid=api-tokens]`, &listed))
	if !strings.Contains(listed, "my laptop") || !strings.Contains(listed, "revoked") || strings.Contains(listed, token) {
		t.Errorf("the token list after revoking: %q", listed)
	}
}
