package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// Item 9 of the second hostile-input round: every sign-in and every press
// of "refresh" asked slurmrestd for seven days of a person's records, with
// no limit. Now one refresh per person per RefreshGap, MaxRefreshes at
// once, and never more than MaxRefreshDays.
func TestAbuse09RefreshesAreBounded(t *testing.T) {
	var asked atomic.Int32
	release := make(chan struct{})
	empty := fixture(t, "slurmdb-v0.0.38-jobs-empty-window.json")
	restd := fakeRestd(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-release
		serveJSON(200, empty)(w, r)
	})
	in, _ := restIngester(t, restd.URL, &fakeCreds{}, 30*time.Second)
	sched := NewScheduler(in, nil, 0, time.Hour, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	cred := func(user string) slurm.Credential {
		return slurm.Credential{User: user, Token: slurm.Token{Value: "t", Expires: time.Now().Add(time.Hour)}}
	}
	ctx := context.Background()

	// Two people refresh at once and hold slurmrestd; a third is turned
	// away at once instead of queueing a third seven-day read.
	results := make(chan error, 2)
	for _, u := range []string{"ann", "bob"} {
		go func() { results <- sched.RefreshUser(ctx, cred(u), 365) }()
	}
	for asked.Load() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	var limited *RefreshLimitError
	if err := sched.RefreshUser(ctx, cred("cy"), 7); !errors.As(err, &limited) || limited.Wait != 0 {
		t.Errorf("a third refresh while two run: %v, want a busy refusal", err)
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
	// A day a window: a 365-day request read at most MaxRefreshDays (+1
	// for the partial day) windows each.
	if n := asked.Load(); n > 2*(MaxRefreshDays+1) {
		t.Errorf("two refreshes asked slurmrestd %d times: more than %d days each", n, MaxRefreshDays)
	}
	// The same person again at once: refused with how long to wait.
	if err := sched.RefreshUser(ctx, cred("ann"), 7); !errors.As(err, &limited) || limited.Wait <= 0 || limited.Wait > RefreshGap {
		t.Errorf("ann again at once: %v, want a wait of up to %s", err, RefreshGap)
	}
	// After the gap, ann may refresh again.
	sched.Now = func() time.Time { return time.Now().Add(RefreshGap + time.Second) }
	if err := sched.RefreshUser(ctx, cred("ann"), 7); err != nil {
		t.Errorf("ann after the gap: %v", err)
	}
}
