package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingAuthn counts how often PAM is really asked.
type countingAuthn struct {
	Authenticator
	calls atomic.Int64
}

func (c *countingAuthn) Authenticate(ctx context.Context, user, password string) error {
	c.calls.Add(1)
	return c.Authenticator.Authenticate(ctx, user, password)
}

// A burst of 1,000 wrong passwords from 50 concurrent clients: PAM is
// asked only about as often as the limits allow, every answer is a refusal
// (never an error), the burst is over quickly, and afterwards even the
// right password is refused until the window passes.
func TestLoginThrottlingHoldsUnderABurst(t *testing.T) {
	var counter *countingAuthn
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.Auth.MaxFailuresPerUser = 5
		c.Auth.MaxFailuresPerAddress = 50
		counter = &countingAuthn{Authenticator: d.Authn}
		d.Authn = counter
	})
	const attempts, clients = 1000, 50
	var mu sync.Mutex
	statuses := map[int]int{}
	work := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
			for i := range work {
				user := "tally-t-alice"
				if i%4 == 0 {
					user = "tally-t-nosuch" + string(rune('a'+i%26)) // unknown names in the mix
				}
				resp, err := c.PostForm(e.http.URL+"/login", url.Values{"username": {user}, "password": {"wrong"}})
				status := -1
				if err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		}()
	}
	for i := range attempts {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(began)
	t.Logf("%d attempts in %s: %v; PAM asked %d times", attempts, took, statuses, counter.calls.Load())
	for status, n := range statuses {
		if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
			t.Errorf("%d answers with status %d", n, status)
		}
	}
	// The address limit (50) bounds PAM calls; attempts in flight when the
	// limit is reached may each still have been let through.
	if calls := counter.calls.Load(); calls > 50+clients {
		t.Errorf("PAM asked %d times: throttling did not hold", calls)
	}
	if took > time.Minute {
		t.Errorf("the burst took %s", took)
	}
	resp, _ := newBrowser(t, e).login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password after the burst: %d, want 429", resp.StatusCode)
	}
}

// A refused sign-in takes the same time whether or not the user exists:
// the failure floor hides PAM's own difference (hashing a real password).
func TestLoginTimingDoesNotTellWhoExists(t *testing.T) {
	const floor = 400 * time.Millisecond
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.Auth.FailureFloor = floor
		c.Auth.MaxFailuresPerUser, c.Auth.MaxFailuresPerAddress = 100, 100
	})
	timeOf := func(user string) time.Duration {
		var ds []time.Duration
		for range 5 {
			b := newBrowser(t, e)
			began := time.Now()
			if resp, _ := b.login(user, "wrong", "/"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: %d", user, resp.StatusCode)
			}
			ds = append(ds, time.Since(began))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known, unknown := timeOf("tally-t-alice"), timeOf("tally-t-nobody-"+strings.Repeat("x", 8))
	diff := known - unknown
	if diff < 0 {
		diff = -diff
	}
	t.Logf("median refusal: existing user %s, unknown user %s", known, unknown)
	if known < floor || unknown < floor {
		t.Errorf("refusals faster than the floor: %s, %s", known, unknown)
	}
	if diff > 100*time.Millisecond {
		t.Errorf("existing and unknown users differ by %s", diff)
	}
}
