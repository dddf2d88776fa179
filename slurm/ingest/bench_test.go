package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// genReader produces n generated records on the fly (never all in memory).
type genReader struct {
	n, i   int
	head   string
	tail   string
	sep    string
	record func(i int) string
	buf    strings.Builder
	out    string
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		switch {
		case g.i == 0 && g.head != "":
			g.out, g.head = g.head, ""
		case g.i < g.n:
			g.i++
			s := g.record(g.i)
			if g.i > 1 {
				s = g.sep + s
			}
			g.out = s
		case g.tail != "":
			g.out, g.tail = g.tail, ""
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

var benchUsers = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
var benchAccounts = []string{"physics", "chem", "bio", "astro"}

func jsonGen(n, offset int) io.Reader {
	rec := strings.ReplaceAll(jobRecordJSON(), `"user":"alice"`, `"user":"%s"`)
	rec = strings.ReplaceAll(rec, `"account":"physics"`, `"account":"%s"`)
	rec = strings.ReplaceAll(rec, `"submission":1795477178`, `"submission":%d`)
	return &genReader{n: n, head: `{"meta":{},"errors":[],"jobs":[`, tail: "]}", sep: ",", record: func(i int) string {
		id := i + offset
		return fmt.Sprintf(rec, benchAccounts[id%4], id, benchUsers[id%8], 1795477178+id)
	}}
}

func sacctGen(n, offset int) io.Reader {
	d := slurm.SacctDelimiter
	return &genReader{n: n, sep: "", record: func(i int) string {
		id := i + offset
		sub := time.Unix(int64(1795477178+id), 0).UTC().Format("2006-01-02T15:04:05")
		end := time.Unix(int64(1795477178+id+3600), 0).UTC().Format("2006-01-02T15:04:05")
		job := strings.Join([]string{fmt.Sprint(id), fmt.Sprint(id), "synthetic", benchUsers[id%8], benchAccounts[id%4], "cpu", "normal",
			"COMPLETED", "None", "0:0", sub, sub, sub, end, "3600", "120", "00:00:00", "03:20:00.005", "1", "1",
			"billing=4,cpu=4,mem=8G,node=1", "billing=4,cpu=4,mem=8G,node=1", "node01", "testbed"}, d)
		step := strings.Join([]string{fmt.Sprint(id) + ".batch", fmt.Sprint(id) + ".batch", "batch", "", benchAccounts[id%4], "", "",
			"COMPLETED", "", "0:0", sub, sub, sub, end, "3600", "", "00:00:00", "03:20:00.005", "1", "1",
			"", "cpu=4,mem=8G,node=1", "node01", "testbed"}, d)
		return job + "\n" + step + "\n"
	}}
}

// benchIngest feeds total generated records through parse, stage and merge,
// windowSize records per transaction, and reports records/s and peak RSS.
func benchIngest(b *testing.B, total, windowSize int, feed func(r io.Reader, add func(slurm.Job) error) error, gen func(n, offset int) io.Reader) {
	store := jobstore.New(pgtest.New(b))
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		if windowSize > total {
			windowSize = total
		}
		pacer := jobstore.NewAnalysisPacer(time.Minute) // as Ingester.Run does
		for off := 0; off < total; off += windowSize {
			w, err := store.Begin(ctx, "rest")
			if err != nil {
				b.Fatal(err)
			}
			if err := feed(gen(windowSize, off+it*total), func(j slurm.Job) error { return w.Add(ctx, j) }); err != nil {
				b.Fatal(err)
			}
			if _, err := w.Commit(ctx, jobstore.Run{WindowStart: time.Unix(0, 0), WindowEnd: time.Unix(1, 0), Source: "rest", Trigger: "test", Started: time.Now(),
				DeferAnalysis: pacer.Defer(off+windowSize >= total)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(total*b.N)/el.Seconds(), "records/s")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
}

// benchTotal is TALLY_BENCH_RECORDS, or 1,000,000 (50,000 with -short).
func benchTotal() int {
	if n, err := strconv.Atoi(os.Getenv("TALLY_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 50_000
	}
	return 1_000_000
}

// The physical limit: the same records, already parsed, loaded by one
// bare COPY (the binary encoder ingest uses) into a table identical to jobs
// (columns, constraints and indexes), with no lookup, staging or merge.
// Ingest is reported against it.
func BenchmarkBareCOPY(b *testing.B) {
	pool := pgtest.New(b)
	ctx := context.Background()
	total := benchTotal()
	var tmpl slurm.Job
	if _, err := slurm.DecodeJobs(jsonGen(1, 0), func(j slurm.Job) error { tmpl = j; return nil }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		pool.Exec(ctx, `DROP TABLE IF EXISTS jobs_copy`)
		if _, err := pool.Exec(ctx, `CREATE TABLE jobs_copy (LIKE jobs INCLUDING ALL)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		_, err = jobstore.CopyJobs(ctx, conn.Conn(), "jobs_copy", "rest", func(j *slurm.Job) bool {
			if i == total {
				return false
			}
			i++
			*j = tmpl
			j.JobID, j.User, j.Account = int64(i), benchUsers[i%8], benchAccounts[i%4]
			j.Submit = time.Unix(int64(1795477178+i), 0)
			return true
		})
		conn.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/time.Since(start).Seconds(), "records/s")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
}

func BenchmarkIngestJSON(b *testing.B) {
	benchIngest(b, benchTotal(), 100_000, func(r io.Reader, add func(slurm.Job) error) error {
		_, err := slurm.DecodeJobs(r, add)
		return err
	}, jsonGen)
}

func BenchmarkIngestSacct(b *testing.B) {
	p, _ := slurm.NewSacctParser(slurm.SacctFormat, slurm.SacctDelimiter)
	benchIngest(b, benchTotal(), 100_000, func(r io.Reader, add func(slurm.Job) error) error {
		return p.Parse(r, add, func(r slurm.Reject) error { return fmt.Errorf("reject %+v", r) })
	}, sacctGen)
}

// The parse steps alone, to see where the time goes.
func BenchmarkDecodeJSONOnly(b *testing.B) {
	n := 0
	for it := 0; it < b.N; it++ {
		slurm.DecodeJobs(jsonGen(100_000, 0), func(j slurm.Job) error { n++; _ = j.Hash(); return nil })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkParseSacctOnly(b *testing.B) {
	p, _ := slurm.NewSacctParser(slurm.SacctFormat, slurm.SacctDelimiter)
	n := 0
	for it := 0; it < b.N; it++ {
		p.Parse(sacctGen(100_000, 0), func(j slurm.Job) error { n++; _ = j.Hash(); return nil }, func(slurm.Reject) error { return nil })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
