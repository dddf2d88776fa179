package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
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
}

// newSessionStore starts a sweeper that deletes expired sessions.
func newSessionStore(pool *pgxpool.Pool, keys *SessionKeys, sweep time.Duration, log *slog.Logger) *sessionStore {
	ctx, stop := context.WithCancel(context.Background())
	s := &sessionStore{pool: pool, keys: keys, log: log, stop: stop, done: make(chan struct{})}
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
	sealed, err := s.keys.seal(token, b)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`, token, sealed, expiry.UTC())
	return err
}

func (s *sessionStore) DeleteCtx(ctx context.Context, token string) error {
	token = sessionRowKey(token)
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	return err
}

// The context-free methods scs.Store also asks for; scs calls the Ctx ones.
func (s *sessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}
func (s *sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}
func (s *sessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }
