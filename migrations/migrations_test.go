package migrations_test

import (
	"context"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/migrations"
)

// Every migration must apply on an empty database, revert to nothing, and
// apply again: a broken Down would strand operators mid-rollback.
func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewEmpty(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	up, err := m.Up(ctx)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if len(up) == 0 {
		t.Fatal("no migrations applied")
	}
	cur, target, err := m.Versions(ctx)
	if err != nil || cur != target {
		t.Fatalf("versions after up: %d/%d %v", cur, target, err)
	}
	down, err := m.DownTo(ctx, 0)
	if err != nil {
		t.Fatalf("down: %v", err)
	}
	if len(down) != len(up) {
		t.Fatalf("reverted %d of %d migrations", len(down), len(up))
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables left after down to 0", tables)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("second up: %v", err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Applied {
			t.Errorf("migration %d not applied", s.Version)
		}
	}
}
