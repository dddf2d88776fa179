// Package pgtest gives tests a real, freshly migrated PostgreSQL database.
//
// The first caller on a machine migrates a template database named after a
// hash of the migration files; every test then gets a copy made with
// CREATE DATABASE ... TEMPLATE, which takes milliseconds. Databases are
// dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/migrations"
)

// DefaultAdminURL is used when neither TALLY_TEST_DATABASE_URL nor
// TALLY_DATABASE_URL is set: the local trust-auth Postgres of a dev machine.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	for _, k := range []string{"TALLY_TEST_DATABASE_URL", "TALLY_DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return DefaultAdminURL
}

// NewURL creates a fresh migrated database and returns its URL.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL (set TALLY_TEST_DATABASE_URL, or run `make test`): %v", err)
	}
	defer conn.Close(ctx)

	tmpl, err := ensureTemplate(ctx, conn, admin)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := "tally_test_" + randomSuffix()
	if err := createFrom(ctx, conn, name, tmpl); err != nil {
		t.Fatalf("pgtest: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		if os.Getenv("TALLY_TEST_KEEP_DB") != "" {
			// For looking at a test's data afterwards (EXPLAIN on the
			// soak's database); drop it by hand.
			t.Logf("pgtest: kept database %s (TALLY_TEST_KEEP_DB)", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// New creates a fresh migrated database and returns a pool on it, closed
// when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewURL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["jit"] = "off" // as tally connects (cmd/tally/database.go)
	cfg.AfterConnect = migrations.WarmConnection
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewEmpty creates an empty (unmigrated) database, for migration tests.
func NewEmpty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	name := "tally_test_" + randomSuffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(admin, name))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return pool
}

func ensureTemplate(ctx context.Context, conn *pgx.Conn, admin string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Files(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	tmpl := "tally_tmpl_" + sum

	// Serialise template creation across concurrently running test binaries.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", tmpl); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(hashtext($1))", tmpl) //nolint:errcheck

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return tmpl, nil
	}
	building := tmpl + "_build"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, withDatabase(admin, building))
	if err != nil {
		return "", err
	}
	m, err := migrations.New(pool)
	if err == nil {
		_, err = m.Up(ctx)
		m.Close()
	}
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	// Rename only once complete, so a half-built template is never used.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return "", err
	}
	return tmpl, nil
}

func createFrom(ctx context.Context, conn *pgx.Conn, name, tmpl string) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize())
		var pgErr *pgconn.PgError
		// 55006: the template is briefly in use by another CREATE DATABASE.
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Keyword/value form: append dbname, the last one wins.
		return strings.TrimSpace(raw) + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
