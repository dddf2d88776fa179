package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/migrations"
)

// openDatabase connects and pings, returning one readable error line.
func openDatabase(ctx context.Context, rawURL string) (*pgxpool.Pool, error) {
	if rawURL == "" {
		return nil, fail("no database configured: set TALLY_DATABASE_URL or --database-url")
	}
	pool, cfg, err := newPool(ctx, rawURL, "TALLY_DATABASE_URL")
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fail("cannot reach the database at %s:%d/%s: %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, oneLine(err))
	}
	return pool, nil
}

// openReplica opens the read replica's pool without waiting for it: a
// replica that is away at start is one the pages do without until it
// comes (the replica.Router watches it).
func openReplica(ctx context.Context, rawURL string) (*pgxpool.Pool, error) {
	pool, _, err := newPool(ctx, rawURL, "TALLY_DATABASE_READ_URL")
	return pool, err
}

func newPool(ctx context.Context, rawURL, setting string) (*pgxpool.Pool, *pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx masks the password in its parse errors.
		return nil, nil, fail("invalid %s: %s", setting, oneLine(err))
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	// pgx's default (4 on a small machine) queues pages behind each other
	// and behind ingest and rating; pool_max_conns in the URL overrides.
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	// JIT compilation pays off for long analytical queries; Tally's are
	// short, indexed or streamed, and a misestimated one spent 300 ms
	// compiling to save nothing. jit=... in the URL overrides.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	cfg.AfterConnect = migrations.WarmConnection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fail("invalid %s: %s", setting, oneLine(err))
	}
	return pool, cfg, nil
}

// oneLine folds a multi-line driver error (pgx lists every address it
// tried) into one line without repeats.
func oneLine(err error) string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, strings.TrimSuffix(l, ":"))
		}
	}
	return strings.Join(parts, ": ")
}

// redactURL hides a password in a postgres:// URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil {
			return "(unparseable URL)"
		}
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// readiness reports whether the database answers and has the schema this
// binary expects.
func readiness(pool *pgxpool.Pool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("database unreachable")
		}
		m, err := migrations.New(pool)
		if err != nil {
			return err
		}
		defer m.Close()
		cur, target, err := m.Versions(ctx)
		if err != nil {
			return fmt.Errorf("schema version unknown")
		}
		if cur != target {
			return fmt.Errorf("schema at version %d, this build needs %d (run tally migrate up)", cur, target)
		}
		return nil
	}
}
