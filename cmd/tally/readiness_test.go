package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// readiness fails while the database is cut off and recovers by itself.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.NewURL(t))
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ready := readiness(pool)
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return ready(ctx)
	}
	if err := check(); err != nil {
		t.Fatalf("ready at start: %v", err)
	}
	proxy.Down()
	if err := check(); err == nil {
		t.Fatal("ready while the database is down")
	}
	proxy.Up()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadinessWantsCurrentSchema(t *testing.T) {
	pool := pgtest.NewEmpty(t)
	if err := readiness(pool)(context.Background()); err == nil {
		t.Fatal("ready with an unmigrated database")
	}
}
