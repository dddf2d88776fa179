package migrations_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/migrations"
)

// lastUnpartitioned is the newest schema whose jobs and job_charges are
// plain tables; migration 00020 partitions them by month.
const lastUnpartitioned = 19

// conversionJobs is how many jobs the conversion test fills the old schema
// with: a million by default (TALLY_CONVERSION_JOBS sets another size;
// the benchmark in docs/performance.md ran it at ten million).
func conversionJobs(t *testing.T) int {
	if s := os.Getenv("TALLY_CONVERSION_JOBS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			t.Fatalf("TALLY_CONVERSION_JOBS=%q: want a number of at least 1000", s)
		}
		return n
	}
	return 1_000_000
}

// An installation filled by the old schema — jobs over two years, their
// charges in closed and open periods, adjustments naming jobs, the
// rating queue and the charge sums — converts to monthly partitions
// without losing or changing a row, and the schema's rules hold after.
func TestPartitionConversionKeepsEveryRow(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewEmpty(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.UpTo(ctx, lastUnpartitioned); err != nil {
		t.Fatal(err)
	}
	n := conversionJobs(t)
	began := time.Now()
	fillOldSchema(t, pool, n)
	t.Logf("filled the old schema with %d jobs in %s", n, time.Since(began).Round(time.Millisecond))

	chargeCols := columnsOf(t, pool, "job_charges")
	before := fingerprints(t, pool, chargeCols)
	var nextID int64
	pool.QueryRow(ctx, `SELECT last_value FROM jobs_id_seq`).Scan(&nextID)

	began = time.Now()
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("conversion: %v", err)
	}
	t.Logf("converted %d jobs and their charges in %s", n, time.Since(began).Round(time.Millisecond))

	after := fingerprints(t, pool, chargeCols)
	for name, b := range before {
		if a := after[name]; a != b {
			t.Errorf("%s changed in the conversion: %s before, %s after", name, b, a)
		}
	}
	var seq int64
	pool.QueryRow(ctx, `SELECT last_value FROM jobs_id_seq`).Scan(&seq)
	if seq != nextID {
		t.Errorf("jobs_id_seq at %d after the conversion, %d before", seq, nextID)
	}
	var kind string
	pool.QueryRow(ctx, `SELECT string_agg(relname::text || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('jobs', 'job_charges')`).Scan(&kind)
	if kind != "job_charges:p,jobs:p" {
		t.Fatalf("after the conversion: %s, want both partitioned", kind)
	}
	// Every month the jobs span has its pair of partitions, each holding
	// only its own month.
	var months, jobParts, chargeParts, misplaced int
	pool.QueryRow(ctx, `SELECT count(DISTINCT date_trunc('month', submit_time AT TIME ZONE 'UTC')) FROM jobs`).Scan(&months)
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'jobs'::regclass`).Scan(&jobParts)
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'job_charges'::regclass`).Scan(&chargeParts)
	pool.QueryRow(ctx, `SELECT count(*) FROM job_charges c JOIN jobs j ON j.id = c.job_row WHERE c.job_submit <> j.submit_time`).Scan(&misplaced)
	if jobParts < months || chargeParts != jobParts || misplaced != 0 {
		t.Errorf("%d months of jobs, %d job partitions, %d charge partitions, %d charges keyed off their job's month", months, jobParts, chargeParts, misplaced)
	}

	// The rules the old tables had hold on the new ones.
	for _, c := range []struct{ name, sql, want string }{
		{"a charge in a closed period", `UPDATE job_charges SET total_micros = total_micros + 1
			WHERE period_id = (SELECT id FROM billing_periods WHERE status = 'closed' LIMIT 1)`, "closed"},
		{"a charge without its job", `INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, cluster, account, username, total_micros, charge_hash)
			VALUES (999999999, '2025-03-01', '2025-03-01', '2025-03-01', 'c', 'a', 'u', 1, 'x')`, "does not exist"},
		{"deleting a charged job", `DELETE FROM jobs WHERE id = (SELECT job_row FROM job_charges LIMIT 1)`, "has charges"},
		{"a job twice", `INSERT INTO jobs (cluster, job_id, submit_time, username, state, elapsed_seconds, content_hash, source)
			SELECT cluster, job_id, submit_time, username, state, 0, 'x', 'sacct' FROM jobs LIMIT 1`, "duplicate key"},
		{"an adjustment naming no job", `INSERT INTO adjustments (period_id, account, job_row, amount_micros, reason, author)
			VALUES ((SELECT id FROM billing_periods WHERE status = 'open' LIMIT 1), 'physics', 999999999, 1, 'x', 'test')`, "does not exist"},
	} {
		_, err := pool.Exec(ctx, c.sql)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.name, err, c.want)
		}
	}
	// Writing goes on: the rating queue fills, the charge sums follow.
	var queued, sumsBefore, sumsAfter int64
	pool.QueryRow(ctx, `SELECT count(*) FROM jobs_unrated`).Scan(&queued)
	pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0) FROM charge_sums`).Scan(&sumsBefore)
	if _, err := pool.Exec(ctx, `SELECT ensure_month_partitions('2031-05-10', '2031-05-10');
		INSERT INTO jobs (cluster, job_id, submit_time, username, account, state, start_time, end_time, elapsed_seconds, content_hash, source)
		VALUES ('conv-new', 1, '2031-05-10', 'alice', 'physics', 'COMPLETED', '2031-05-10', '2031-05-10 01:00', 3600, 'x', 'sacct');
		INSERT INTO job_charges (job_row, job_submit, portion_start, portion_end, period_id, cluster, account, username, currency, total_micros, lines, charge_hash)
		SELECT id, submit_time, start_time, end_time, (SELECT id FROM billing_periods WHERE name = '2025-12'), cluster, account, username, 'USD',
			1000000, '[["cpu","","1","core-hours",1000000,1000000,1000000,1000000,""]]', 'x'
		FROM jobs WHERE cluster = 'conv-new'`); err != nil {
		t.Fatal(err)
	}
	var q2 int64
	pool.QueryRow(ctx, `SELECT count(*) FROM jobs_unrated`).Scan(&q2)
	pool.QueryRow(ctx, `SELECT coalesce(sum(jobs), 0) FROM charge_sums`).Scan(&sumsAfter)
	if q2 != queued+1 || sumsAfter == sumsBefore {
		t.Errorf("after a new job and charge: queue %d -> %d, charge sums %d -> %d", queued, q2, sumsBefore, sumsAfter)
	}
}

// fillOldSchema writes n jobs submitted over 24 months of 2024-2025 with
// their charges (one per ended job), 24 monthly periods of which the first
// 20 are closed, adjustments naming jobs, and a rating queue, all by SQL
// on the unpartitioned schema.
func fillOldSchema(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO billing_periods (name, starts_at, ends_at)
		 SELECT to_char(m, 'YYYY-MM'), m, m + interval '1 month'
		 FROM generate_series(timestamptz '2024-01-01 00:00+00', '2025-12-01 00:00+00', interval '1 month') m`,
		`INSERT INTO jobs (cluster, job_id, submit_time, array_job_id, array_task_id, name, username, account, partition, qos, state,
			exit_code, start_time, end_time, elapsed_seconds, cpu_time_us, req_cpu, req_mem_mib, req_nodes, req_gpu, req_gpu_types,
			alloc_cpu, alloc_mem_mib, alloc_nodes, alloc_gpu, node_list, step_count, steps, content_hash, source)
		 SELECT 'conv', g, s, CASE WHEN g % 10 = 0 THEN g - 1 ELSE 0 END, CASE WHEN g % 10 = 0 THEN g % 7 END,
			'job-' || g, 'user' || (g % 997), (ARRAY['physics','chem','bio','astro'])[1 + g % 4],
			(ARRAY['cpu','cpu','gpu','bigmem'])[1 + g % 4], 'normal',
			CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'COMPLETED' END, CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,
			s + interval '5 minutes', s + interval '5 minutes' + (g % 7200) * interval '1 second', g % 7200, (g % 7200)::bigint * 900000,
			1 + g % 16, 1024 * (1 + g % 8), 1, CASE WHEN g % 4 = 2 THEN 1 ELSE 0 END,
			CASE WHEN g % 4 = 2 THEN '{"a100": 1}' ELSE '{}' END::jsonb,
			1 + g % 16, 1024 * (1 + g % 8), 1, CASE WHEN g % 4 = 2 THEN 1 ELSE 0 END, 'node' || (g % 64), 1,
			jsonb_build_array(jsonb_build_object('id', 'batch', 'state', 'COMPLETED', 'elapsed', g % 7200)), md5(g::text), 'sacct'
		 FROM (SELECT g, timestamptz '2024-01-01 00:00+00' + (g::float8 / $1) * interval '730 days' AS s
		       FROM generate_series(1::bigint, $1::bigint) g) x`,
		// Charges as rating writes them, while every period is open.
		`INSERT INTO job_charges (job_row, portion_start, portion_end, period_id, cluster, account, username, currency, total_micros,
			efficiency_ppm, lines, charge_hash)
		 SELECT j.id, j.start_time, j.end_time, p.id, j.cluster, j.account, j.username, 'USD', j.elapsed_seconds * j.req_cpu * 10,
			900000, json_build_array(json_build_array('cpu', '', (j.elapsed_seconds * j.req_cpu)::text, 'core-seconds', 10, 1000000, 1000000,
				j.elapsed_seconds * j.req_cpu * 10, '')), md5(j.id::text)
		 FROM jobs j JOIN billing_periods p ON j.end_time >= p.starts_at AND j.end_time < p.ends_at`,
		`INSERT INTO adjustments (period_id, account, username, job_row, amount_micros, reason, author)
		 SELECT p.id, j.account, j.username, j.id, -1000000, 'credit for job ' || j.job_id, 'finance'
		 FROM jobs j JOIN billing_periods p ON j.end_time >= p.starts_at AND j.end_time < p.ends_at WHERE j.job_id % 100003 = 7`,
		`UPDATE billing_periods SET status = 'closed', closed_at = ends_at + interval '3 days', closed_by = 'finance'
		 WHERE starts_at < '2025-09-01'`,
		`DELETE FROM jobs_unrated WHERE job_row % 1000 <> 0`,
		`ANALYZE`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
}

// columnsOf lists a table's columns in order.
func columnsOf(t *testing.T, pool *pgxpool.Pool, table string) string {
	var cols string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, table).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	return cols
}

// fingerprints sums a 64-bit hash of every row's text of each table the
// conversion touches (and of those it must not), with the row count:
// equal before and after means the same rows.
func fingerprints(t *testing.T, pool *pgxpool.Pool, chargeCols string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, q := range map[string]string{
		"jobs":        `SELECT count(*) || '/' || coalesce(sum(hashtextextended(j::text, 0)::numeric), 0) FROM jobs j`,
		"job_charges": `SELECT count(*) || '/' || coalesce(sum(hashtextextended(ROW(` + chargeCols + `)::text, 0)::numeric), 0) FROM job_charges`,
		"adjustments": `SELECT count(*) || '/' || coalesce(sum(hashtextextended(a::text, 0)::numeric), 0) FROM adjustments a`,
		"charge_sums": `SELECT count(*) || '/' || coalesce(sum(hashtextextended(s::text, 0)::numeric), 0) FROM charge_sums s`,
		"queue":       `SELECT count(*) || '/' || coalesce(sum(job_row), 0) FROM jobs_unrated`,
		"periods":     `SELECT count(*) || '/' || coalesce(sum(hashtextextended(p::text, 0)::numeric), 0) FROM billing_periods p`,
	} {
		var fp string
		if err := pool.QueryRow(context.Background(), q).Scan(&fp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = fp
	}
	return out
}
