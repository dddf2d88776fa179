package web

import (
	"net/http"
	"testing"
	"time"
)

// Sessions end when they should, on the server: idle too long, older than
// their lifetime however busy, or signed out (the old cookie, replayed,
// opens nothing).
func TestSessionExpiry(t *testing.T) {
	signedIn := func(t *testing.T, b *browser) bool {
		t.Helper()
		resp, _ := b.get("/me")
		switch resp.StatusCode {
		case http.StatusOK:
			return true
		case http.StatusSeeOther:
			return false
		}
		t.Fatalf("/me: %d", resp.StatusCode)
		return false
	}
	login := func(t *testing.T, e *testEnv) *browser {
		b := newBrowser(t, e)
		if resp, _ := b.login("tally-t-alice", "tally-alice-pw", "/me"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		if !signedIn(t, b) {
			t.Fatal("not signed in after login")
		}
		return b
	}

	t.Run("idle timeout", func(t *testing.T) {
		// Generous margins: a loaded CI machine may take a while to answer.
		e := newAuthServer(t, "", func(c *Config, d *Deps) { c.SessionIdleTimeout = 2 * time.Second })
		b := login(t, e)
		time.Sleep(500 * time.Millisecond)
		if !signedIn(t, b) {
			t.Fatal("signed out before the idle timeout")
		}
		time.Sleep(2500 * time.Millisecond)
		if signedIn(t, b) {
			t.Fatal("still signed in after 2.5 s idle with a 2 s idle timeout")
		}
	})

	t.Run("absolute lifetime", func(t *testing.T) {
		e := newAuthServer(t, "", func(c *Config, d *Deps) { c.SessionIdleTimeout = time.Hour; c.SessionLifetime = 3 * time.Second })
		b := login(t, e)
		start := time.Now()
		for time.Since(start) < 1500*time.Millisecond {
			if !signedIn(t, b) {
				t.Fatalf("signed out after %s of a 3 s lifetime", time.Since(start))
			}
			time.Sleep(300 * time.Millisecond)
		}
		time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
		if signedIn(t, b) {
			t.Fatal("a busy session outlived its 3 s lifetime")
		}
	})

	t.Run("sign-out is server-side", func(t *testing.T) {
		e := newAuthServer(t, "", nil)
		b := login(t, e)
		old := b.cookie()
		var n int
		if e.srv.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE token = $1`, sessionRowKey(old)).Scan(&n); n != 1 {
			t.Fatalf("no session row for the signed-in cookie")
		}
		if resp, _ := b.post("/logout", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		// Someone who copied the cookie before sign-out replays it.
		replay := newBrowser(t, e)
		req, _ := http.NewRequest("GET", e.http.URL+"/me", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: old})
		if resp, _ := replay.do(req); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("replayed cookie after sign-out: %d", resp.StatusCode)
		}
		if err := e.srv.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE token = $1`, sessionRowKey(old)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("the session row outlives sign-out")
		}
	})
}
