package pgstats_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgstats"
	"github.com/tally-hpc/tally/internal/pgtest"
)

func TestAnalyzeStale(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE stale_probe (n int)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		rows    int
		analyse bool
	}{
		{"a few rows are not worth it", 50, false},
		{"a bulk load is", 20000, true},
		{"a tenth more is not", 2000, false},
		{"doubling is", 25000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, `INSERT INTO stale_probe SELECT generate_series(1, $1)`, tc.rows); err != nil {
				t.Fatal(err)
			}
			awaitCounted(t, pool, "stale_probe", int64(tc.rows))
			got, err := pgstats.AnalyzeStale(ctx, pool, "stale_probe", "no_such_table")
			if err != nil {
				t.Fatal(err)
			}
			if analysed := slices.Contains(got, "stale_probe"); analysed != tc.analyse {
				t.Fatalf("analysed = %v, want %v", analysed, tc.analyse)
			}
		})
	}
}

// A partitioned table's stale partitions are analysed, each on its own,
// and the others are left alone.
func TestAnalyzeStalePartitions(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE part_probe (n int) PARTITION BY RANGE (n);
		CREATE TABLE part_probe_low PARTITION OF part_probe FOR VALUES FROM (0) TO (100000);
		CREATE TABLE part_probe_high PARTITION OF part_probe FOR VALUES FROM (100000) TO (200000);
		INSERT INTO part_probe SELECT generate_series(1, 20000)`); err != nil {
		t.Fatal(err)
	}
	awaitCounted(t, pool, "part_probe_low", 20000)
	got, err := pgstats.AnalyzeStale(ctx, pool, "part_probe")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"part_probe_low"}) {
		t.Fatalf("analysed %v, want the partition written to", got)
	}
	var analysed bool
	pool.QueryRow(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'part_probe_low'`).Scan(&analysed)
	if !analysed {
		t.Fatal("part_probe_low has no analysis")
	}
}

// A small table is analysed after a few dozen changes by AnalyzeStaleSmall,
// where AnalyzeStale waits for a thousand.
func TestAnalyzeStaleSmall(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE small_probe (n int); INSERT INTO small_probe SELECT generate_series(1, 40)`); err != nil {
		t.Fatal(err)
	}
	awaitCounted(t, pool, "small_probe", 40)
	if got, err := pgstats.AnalyzeStale(ctx, pool, "small_probe"); err != nil || len(got) != 0 {
		t.Fatalf("AnalyzeStale after 40 rows: %v %v, want nothing", got, err)
	}
	if got, err := pgstats.AnalyzeStaleSmall(ctx, pool, "small_probe"); err != nil || !slices.Contains(got, "small_probe") {
		t.Fatalf("AnalyzeStaleSmall after 40 rows: %v %v, want small_probe", got, err)
	}
}

// awaitCounted waits until the statistics system counts rows changed rows
// of table: each backend reports its counts at most once a second.
func awaitCounted(t *testing.T, pool *pgxpool.Pool, table string, rows int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pending int64
		pool.QueryRow(context.Background(), `SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = $1`, table).Scan(&pending)
		if pending >= rows || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
