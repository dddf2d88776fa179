package postgres

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// seedJobs stores n synthetic jobs ending in October 2026.
func seedJobs(b *testing.B, pool interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, n int) {
	if _, err := pool.Exec(context.Background(), `SELECT ensure_month_partitions('2026-09-01', '2026-11-30')`); err != nil {
		b.Fatal(err)
	}
	_, err := pool.Exec(context.Background(), `INSERT INTO jobs (cluster, job_id, submit_time, username, account, partition, qos, state,
			start_time, end_time, elapsed_seconds, cpu_time_us, req_cpu, req_mem_mib, req_nodes, req_gpu, req_gpu_types,
			alloc_cpu, alloc_mem_mib, alloc_nodes, content_hash, source)
		SELECT 'testbed', g, t, 'user' || (g % 200), (ARRAY['physics','chem','bio','astro'])[1 + g % 4],
			(ARRAY['cpu','cpu','cpu','gpu','bigmem','short'])[1 + g % 6], (ARRAY['normal','normal','standby','debug'])[1 + g % 4],
			(ARRAY['COMPLETED','COMPLETED','FAILED','TIMEOUT','CANCELLED','NODE_FAIL'])[1 + g % 6],
			t, t + (g % 7200) * interval '1 second', g % 7200, (g % 7200) * 1000000::bigint * (1 + g % 4),
			1 + g % 16, 1024 * (1 + g % 64), 1, CASE WHEN g % 6 = 3 THEN 1 + g % 2 ELSE 0 END,
			CASE WHEN g % 12 = 3 THEN '{"a100": 1}'::jsonb ELSE '{}'::jsonb END,
			1 + g % 16, 1024 * (1 + g % 64), 1, md5(g::text), 'demo'
		FROM generate_series(1, $1) g, LATERAL (SELECT timestamptz '2026-10-01' + (g % 2500000) * interval '1 second' AS t) x`, n)
	if err != nil {
		b.Fatal(err)
	}
}

// benchN is TALLY_BENCH_RECORDS, or 1,000,000 (50,000 with -short).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("TALLY_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 50_000
	}
	return 1_000_000
}

// BenchmarkCloseAndExport closes a period of N rated jobs and streams its
// job lines CSV, reporting both and the peak RSS.
func BenchmarkCloseAndExport(b *testing.B) {
	n := benchN()
	pool := pgtest.New(b)
	ctx := context.Background()
	s := New(pool)
	importStandard(b, s)
	seedJobs(b, pool, n)
	s.EnsureMonths(ctx, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ps, err := s.ClosePeriod(ctx, "2026-10", "bench", billing.HalfUp)
	if err != nil {
		b.Fatal(err)
	}
	closeTook := time.Since(start)
	start = time.Now()
	cw := &countingWriter{}
	if err := s.WriteJobLines(ctx, cw, "2026-10", nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(closeTook.Seconds(), "s-close")
	b.ReportMetric(time.Since(start).Seconds(), "s-job-lines-csv")
	b.ReportMetric(float64(cw.lines), "csv-lines")
	b.ReportMetric(float64(len(ps.Statements)), "statements")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
}

type countingWriter struct{ lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	for _, x := range p {
		if x == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}

// BenchmarkRateOpen rates N stored jobs (1,000,000 unless -short) from
// scratch, then again (nothing changes), and reports both.
func BenchmarkRateOpen(b *testing.B) {
	n := benchN()
	pool := pgtest.New(b)
	ctx := context.Background()
	s := New(pool)
	importStandard(b, s)
	seedJobs(b, pool, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pool.Exec(ctx, `TRUNCATE job_charges`)
		first, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
		if err != nil || first.Jobs != n || first.Failed != 0 {
			b.Fatalf("%+v %v", first, err)
		}
		again, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp})
		if err != nil || again.Written != 0 {
			b.Fatalf("re-rate: %+v %v", again, err)
		}
		// What serve does after an ingest that changed 1% of the jobs.
		if _, err := pool.Exec(ctx, `UPDATE jobs SET elapsed_seconds = elapsed_seconds + 60, end_time = end_time + interval '60 seconds' WHERE id % 100 = 0`); err != nil {
			b.Fatal(err)
		}
		changed, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp, OnlyChanged: true})
		if err != nil || !changed.OnlyChanged || changed.Jobs != n/100 || changed.Written != n/100 {
			b.Fatalf("rating the changed jobs: %+v %v", changed, err)
		}
		b.ReportMetric((changed.Took + changed.UsageTook).Seconds(), "s-rate-1pct-changed")
		b.ReportMetric(changed.UsageTook.Seconds(), "s-rate-1pct-rollup")
		// What a scheduled ingest really changes: the jobs that ended since
		// the last one, plus its overlap (an hour), so the rollup refresh
		// spans a day, not the weeks the 1% above is spread over.
		tag, err := pool.Exec(ctx, `UPDATE jobs SET elapsed_seconds = elapsed_seconds + 60, end_time = end_time + interval '60 seconds'
			WHERE end_time >= (SELECT max(end_time) - interval '1 hour' FROM jobs)`)
		if err != nil {
			b.Fatal(err)
		}
		lastHour, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp, OnlyChanged: true})
		if err != nil || lastHour.Jobs != int(tag.RowsAffected()) {
			b.Fatalf("rating the last hour's jobs: %+v %v (%d changed)", lastHour, err, tag.RowsAffected())
		}
		b.ReportMetric((lastHour.Took + lastHour.UsageTook).Seconds(), "s-rate-last-hour-changed")
		b.ReportMetric(float64(lastHour.Jobs), "jobs-last-hour")
		b.ReportMetric(first.Took.Seconds(), "s-first-rating")
		b.ReportMetric(again.Took.Seconds(), "s-re-rating")
		b.ReportMetric(float64(n)/first.Took.Seconds(), "jobs/s")
		b.ReportMetric(first.UsageTook.Seconds(), "s-usage-refresh")
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
}
