package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sessionStore keeps scs sessions in the sessions table. Unlike a store
// without contexts, every lookup runs under the request's context, so a
// full connection pool or a slow database ends in a "busy" page at the
// request's deadline instead of a request that waits for ever. Rows are
// sealed with keys (sessioncrypt.go): the table never holds a readable
// Slurm token.
type sessionStore struct {
	pool *pgxpool.Pool
	keys *SessionKeys
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}

	// With an idle timeout scs commits the session on every request, to
	// move its expiry on: a sealed row written, and a commit flushed to
	// disk, for every page (11,686 in a 60-s soak). A commit that changes
	// nothing but an expiry less than touchEvery later than the one this
	// process last wrote is skipped; the idle timeout then counts from at
	// most touchEvery earlier. Sessions still load from the table on every
	// request, so a sign-out or a revoked row takes effect at once.
	touchEvery time.Duration
	mu         sync.Mutex
	written    map[string]writtenSession // by row key
}

// writtenSession is what this process last wrote for a session row.
type writtenSession struct {
	data   [sha256.Size]byte
	expiry time.Time
}

// touchInterval is how stale a session's stored expiry may grow under an
// idle timeout of idle: a tenth of it, at most a minute.
func touchInterval(idle time.Duration) time.Duration {
	return min(idle/10, time.Minute)
}

// newSessionStore starts a sweeper that deletes expired sessions.
func newSessionStore(pool *pgxpool.Pool, keys *SessionKeys, sweep, idle time.Duration, log *slog.Logger) *sessionStore {
	ctx, stop := context.WithCancel(context.Background())
	s := &sessionStore{pool: pool, keys: keys, log: log, stop: stop, done: make(chan struct{}),
		touchEvery: touchInterval(idle), written: map[string]writtenSession{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(sweep)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < now()`); err != nil && ctx.Err() == nil {
					log.Warn("expired session sweep", "err", err)
				}
				s.forgetExpired(time.Now())
			}
		}
	}()
	return s
}

// Close stops the sweeper.
func (s *sessionStore) Close() {
	s.stop()
	<-s.done
}

// sessionRowKey is the sessions table's key for a cookie's token: its
// SHA-256. Whoever reads the table (a backup, a replica, a reporting
// role) learns no cookie that would sign them in as someone.
func sessionRowKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	token = sessionRowKey(token)
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM sessions WHERE token = $1 AND expiry > now()`, token).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	plain, err := s.keys.open(token, b)
	if err != nil {
		// A row from before encryption, one sealed with a retired key or
		// altered in the table: the person signs in again, which is
		// better than a 500 on every page. Neither the row nor the token
		// (the cookie) is logged.
		s.log.WarnContext(ctx, "session row unreadable; treated as signed out", "id", requestID(ctx), "reason", err)
		return nil, false, nil
	}
	return plain, true, nil
}

func (s *sessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	token = sessionRowKey(token)
	w := writtenSession{data: sha256.Sum256(b), expiry: expiry}
	s.mu.Lock()
	last, ok := s.written[token]
	s.mu.Unlock()
	if ok && last.data == w.data && !expiry.Before(last.expiry) && expiry.Sub(last.expiry) < s.touchEvery {
		return nil // only the expiry moved, and not far
	}
	sealed, err := s.keys.seal(token, b)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`, token, sealed, expiry.UTC())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.written[token] = w
	s.mu.Unlock()
	return nil
}

func (s *sessionStore) DeleteCtx(ctx context.Context, token string) error {
	token = sessionRowKey(token)
	s.mu.Lock()
	delete(s.written, token)
	s.mu.Unlock()
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	return err
}

// forgetExpired drops what was written for sessions expired by now.
func (s *sessionStore) forgetExpired(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, w := range s.written {
		if w.expiry.Before(now) {
			delete(s.written, k)
		}
	}
}

// The context-free methods scs.Store also asks for; scs calls the Ctx ones.
func (s *sessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}
func (s *sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}
func (s *sessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }
