// Package migrations holds Tally's schema as numbered SQL files and applies
// them with goose. The files are embedded so the binary carries its schema.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// Files returns the embedded migration files (for hashing in tests).
func Files() embed.FS { return files }

// Migrator applies Tally's migrations to one database.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// New returns a Migrator for the pool's database. A Postgres session lock
// serialises concurrent migrators, so several replicas may start at once.
func New(pool *pgxpool.Pool) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// Close releases the database handle (not the pool).
func (m *Migrator) Close() error { return m.db.Close() }

// Result is one applied or reverted migration.
type Result struct {
	Version  int64
	Name     string
	Duration string
}

func results(rs []*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(rs))
	for _, r := range rs {
		out = append(out, Result{Version: r.Source.Version, Name: r.Source.Path, Duration: r.Duration.String()})
	}
	return out
}

// Up applies every pending migration.
func (m *Migrator) Up(ctx context.Context) ([]Result, error) {
	rs, err := m.provider.Up(ctx)
	return results(rs), err
}

// UpTo applies pending migrations up to and including version: a
// database as an older release left it, for upgrade tests.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]Result, error) {
	rs, err := m.provider.UpTo(ctx, version)
	return results(rs), err
}

// DownTo reverts migrations down to (not including) version; 0 empties the schema.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]Result, error) {
	rs, err := m.provider.DownTo(ctx, version)
	return results(rs), err
}

// Down reverts the newest applied migration.
func (m *Migrator) Down(ctx context.Context) (Result, error) {
	r, err := m.provider.Down(ctx)
	if err != nil {
		return Result{}, err
	}
	return results([]*goose.MigrationResult{r})[0], nil
}

// Status is the state of one migration.
type Status struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt string
}

// Status lists every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	ss, err := m.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(ss))
	for _, s := range ss {
		st := Status{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied}
		if st.Applied {
			st.AppliedAt = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		out = append(out, st)
	}
	return out, nil
}

// Versions reports the database's schema version and the newest one this
// binary knows; readiness requires them to be equal.
func (m *Migrator) Versions(ctx context.Context) (current, target int64, err error) {
	return m.provider.GetVersions(ctx)
}
