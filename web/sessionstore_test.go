package web

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// Under an idle timeout a session is committed on every request; a commit
// that only moves the expiry a little is not written, anything else is.
func TestSessionTouchesAreThrottled(t *testing.T) {
	pool := pgtest.New(t)
	keys, err := NewEphemeralSessionKeys()
	if err != nil {
		t.Fatal(err)
	}
	s := newSessionStore(pool, keys, time.Hour, 30*time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer s.Close()
	ctx := context.Background()
	stored := func(token string) (time.Time, bool) {
		var at time.Time
		err := pool.QueryRow(ctx, `SELECT expiry FROM sessions WHERE token = $1`, sessionRowKey(token)).Scan(&at)
		return at, err == nil
	}
	t0 := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	steps := []struct {
		name   string
		data   string
		expiry time.Time
		want   time.Time // the stored expiry afterwards
	}{
		{"first commit is written", "alice", t0, t0},
		{"the expiry 10 s later is not", "alice", t0.Add(10 * time.Second), t0},
		{"changed data is", "alice+flash", t0.Add(20 * time.Second), t0.Add(20 * time.Second)},
		{"the expiry a minute on is", "alice+flash", t0.Add(80 * time.Second), t0.Add(80 * time.Second)},
	}
	for _, st := range steps {
		if err := s.CommitCtx(ctx, "tok", []byte(st.data), st.expiry); err != nil {
			t.Fatal(err)
		}
		if got, ok := stored("tok"); !ok || !got.Equal(st.want) {
			t.Fatalf("%s: stored expiry %s (row %v), want %s", st.name, got, ok, st.want)
		}
	}
	// Signing out removes the row, and a later commit of the same data
	// (a session started again under the same token) is written.
	if err := s.DeleteCtx(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(ctx, "tok", []byte("alice+flash"), t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := stored("tok"); !ok {
		t.Fatal("a commit after the delete was skipped")
	}
	s.forgetExpired(t0.Add(time.Hour))
	if len(s.written) != 0 {
		t.Fatalf("%d expired sessions still remembered", len(s.written))
	}
	if got := touchInterval(2 * time.Second); got != 200*time.Millisecond {
		t.Errorf("touch interval under a 2 s idle timeout: %s", got)
	}
}
