package jobstore

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// Item 1 of the second hostile-input round: every /metrics scrape ran a
// whole-table aggregate over ingest_runs. After years of runs (here
// 200,000: one every five minutes for two years, with sign-in refreshes
// and failures among them) the freshness query must read indexes only.
func TestAbuse01MetricsFreshnessIsCheap(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO ingest_runs (cluster, window_start, window_end, source, trigger, started_at, finished_at,
			jobs_rejected, fallback_reason)
		SELECT CASE WHEN i % 2 = 0 THEN 'cpu' ELSE 'gpu' END, t, t + interval '5 minutes',
		       CASE WHEN i % 50 = 0 THEN 'none' WHEN i % 7 = 0 THEN 'sacct' ELSE 'rest' END,
		       CASE WHEN i % 3 = 0 THEN 'login' ELSE 'schedule' END,
		       t + interval '5 minutes', t + interval '6 minutes',
		       CASE WHEN i % 1000 = 0 THEN 2 ELSE 0 END,
		       CASE WHEN i % 7 = 0 AND i % 50 <> 0 THEN 'slurmrestd refused' ELSE '' END
		FROM generate_series(1, 200000) i, LATERAL (SELECT timestamptz '2024-01-01' + i * interval '5 minutes' AS t) w`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE ingest_runs`); err != nil {
		t.Fatal(err)
	}
	// Of the whole installation, and of one cluster of several.
	for _, cluster := range []string{"", "gpu"} {
		rows, err := pool.Query(ctx, "EXPLAIN "+freshnessSQL, cluster)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		plan := strings.Join(lines, "\n")
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("the freshness query of cluster %q reads the whole of ingest_runs:\n%s", cluster, plan)
		}
	}
	f, err := ReadFreshness(ctx, pool, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Rejected != 400 || f.LastSuccess == nil || f.RecordsUntil == nil {
		t.Errorf("freshness over the generated runs: %+v", f)
	}
}
