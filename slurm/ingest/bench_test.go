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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// genReader produces n generated records on the fly (never all in memory).
// A record is appended into one reused buffer, so producing the input
// costs about what reading it from a socket would: the first version
// (fmt.Sprintf a record) took 2.5 s of the parser's core at 10^6, work a
// real slurmrestd does on its own machine.
type genReader struct {
	n, i   int
	head   string
	tail   string
	sep    string
	record func(b []byte, i int) []byte
	buf    []byte
	out    []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		switch {
		case g.i == 0 && g.head != "":
			g.out, g.head = []byte(g.head), ""
		case g.i < g.n:
			g.i++
			g.buf = g.buf[:0]
			if g.i > 1 {
				g.buf = append(g.buf, g.sep...)
			}
			g.buf = g.record(g.buf, g.i)
			g.out = g.buf
		case g.tail != "":
			g.out, g.tail = []byte(g.tail), ""
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

// template is a record's text cut at its fields: parts[k] comes before
// the k-th field.
type template struct{ parts []string }

func cut(text string, fields ...string) template {
	var t template
	for _, f := range fields {
		i := strings.Index(text, f)
		if i < 0 {
			panic("template: no " + f)
		}
		t.parts = append(t.parts, text[:i])
		text = text[i+len(f):]
	}
	t.parts = append(t.parts, text)
	return t
}

func jsonGen(n, offset int) io.Reader {
	rec := cut(jobRecordJSON(), `"account":"physics"`, `"job_id":%d`, `"user":"alice"`, `"submission":1795477178`)
	return &genReader{n: n, head: `{"meta":{},"errors":[],"jobs":[`, tail: "]}", sep: ",", record: func(b []byte, i int) []byte {
		id := i + offset
		b = append(append(append(b, rec.parts[0]...), `"account":"`...), benchAccounts[id%4]...)
		b = append(append(append(b, '"'), rec.parts[1]...), `"job_id":`...)
		b = append(strconv.AppendInt(b, int64(id), 10), rec.parts[2]...)
		b = append(append(append(append(b, `"user":"`...), benchUsers[id%8]...), '"'), rec.parts[3]...)
		b = strconv.AppendInt(append(b, `"submission":`...), int64(1795477178+id), 10)
		return append(b, rec.parts[4]...)
	}}
}

func sacctGen(n, offset int) io.Reader {
	d := slurm.SacctDelimiter
	const stamp = "2006-01-02T15:04:05"
	return &genReader{n: n, sep: "", record: func(b []byte, i int) []byte {
		id := int64(i + offset)
		sub := time.Unix(1795477178+id, 0).UTC()
		end := sub.Add(time.Hour)
		field := func(b []byte, s string) []byte { return append(append(b, s...), d...) }
		b = strconv.AppendInt(b, id, 10)
		b = strconv.AppendInt(append(b, d...), id, 10)
		b = field(field(field(field(field(append(b, d...), "synthetic"), benchUsers[id%8]), benchAccounts[id%4]), "cpu"), "normal")
		b = field(field(field(b, "COMPLETED"), "None"), "0:0")
		for range 3 {
			b = append(sub.AppendFormat(b, stamp), d...)
		}
		b = append(end.AppendFormat(b, stamp), d...)
		b = field(field(field(field(field(field(b, "3600"), "120"), "00:00:00"), "03:20:00.005"), "1"), "1")
		b = field(field(field(b, "billing=4,cpu=4,mem=8G,node=1"), "billing=4,cpu=4,mem=8G,node=1"), "node01")
		b = append(append(b, "testbed"...), '\n')
		b = strconv.AppendInt(b, id, 10)
		b = strconv.AppendInt(append(append(b, ".batch"...), d...), id, 10)
		b = field(field(field(field(field(field(append(append(b, ".batch"...), d...), "batch"), ""), benchAccounts[id%4]), ""), ""), "COMPLETED")
		b = field(field(b, ""), "0:0")
		for range 3 {
			b = append(sub.AppendFormat(b, stamp), d...)
		}
		b = append(end.AppendFormat(b, stamp), d...)
		b = field(field(field(field(field(field(b, "3600"), ""), "00:00:00"), "03:20:00.005"), "1"), "1")
		b = field(field(field(b, ""), "cpu=4,mem=8G,node=1"), "node01")
		return append(append(b, "testbed"...), '\n')
	}}
}

// benchIngest feeds total generated records through parse, stage and merge,
// windowSize records per transaction, and reports records/s and peak RSS.
func benchIngest(b *testing.B, total, windowSize int, feed func(r io.Reader, add func(slurm.Job) error) error, gen func(n, offset int) io.Reader) {
	pool := pgtest.New(b)
	store := jobstore.New(pool)
	ctx := context.Background()
	settle(ctx, pool)
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

// settle writes out what earlier benchmarks left dirty (a CHECKPOINT,
// where the role may ask for one), so a run does not pay for the one
// before it: ingest and the bare COPY each write about a gigabyte of WAL
// at 10^6, and whichever ran second met the first's checkpoint (make bench
// once gave 1.3x and 1.4x where runs on their own gave 1.2x).
func settle(ctx context.Context, pool *pgxpool.Pool) {
	_, _ = pool.Exec(ctx, `CHECKPOINT`)
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

// benchTemplate is the generators' record, parsed once.
func benchTemplate(b *testing.B) slurm.Job {
	var tmpl slurm.Job
	if _, err := slurm.DecodeJobs(jsonGen(1, 0), func(j slurm.Job) error { tmpl = j; return nil }); err != nil {
		b.Fatal(err)
	}
	return tmpl
}

// benchJob is record id as the generators write it, already parsed.
func benchJob(tmpl slurm.Job, id int) slurm.Job {
	j := tmpl
	j.JobID, j.User, j.Account = int64(id), benchUsers[id%8], benchAccounts[id%4]
	j.Submit = time.Unix(int64(1795477178+id), 0)
	return j
}

// The physical limit: the same records, already parsed, loaded by one
// bare COPY (the binary encoder ingest uses) into a table identical to jobs
// (columns, constraints and indexes), with no lookup, staging or merge.
// Ingest is reported against it.
func BenchmarkBareCOPY(b *testing.B) {
	pool := pgtest.New(b)
	ctx := context.Background()
	total := benchTotal()
	tmpl := benchTemplate(b)
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		pool.Exec(ctx, `DROP TABLE IF EXISTS jobs_copy`)
		if _, err := pool.Exec(ctx, `CREATE TABLE jobs_copy (LIKE jobs INCLUDING ALL)`); err != nil {
			b.Fatal(err)
		}
		settle(ctx, pool)
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
			*j = benchJob(tmpl, i)
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

// The same bare COPY into jobs itself: partitioned by month, with the
// triggers every write to jobs fires (the rating queue), in one
// transaction. This is "the same table" issue 23 measures ingest against;
// the unpartitioned copy above leaves out the partition routing and the
// triggers.
func BenchmarkBareCOPYIntoJobs(b *testing.B) {
	pool := pgtest.New(b)
	ctx := context.Background()
	total := benchTotal()
	tmpl := benchTemplate(b)
	first, last := time.Unix(1795477178, 0), time.Unix(int64(1795477178+total*(b.N+1)), 0)
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		if _, err := jobstore.MakeMonths(ctx, pool, first, last); err != nil {
			b.Fatal(err)
		}
		settle(ctx, pool)
		b.StartTimer()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			i := 0
			_, err := jobstore.CopyJobs(ctx, tx.Conn(), "jobs", "rest", func(j *slurm.Job) bool {
				if i == total {
					return false
				}
				i++
				*j = benchJob(tmpl, i+it*total)
				return true
			})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/time.Since(start).Seconds(), "records/s")
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

// The generators write what the first ones (fmt.Sprintf a record) wrote.
func TestBenchGeneratorsWriteTheirRecords(t *testing.T) {
	read := func(r io.Reader) string {
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rec := strings.ReplaceAll(jobRecordJSON(), `"user":"alice"`, `"user":"%s"`)
	rec = strings.ReplaceAll(rec, `"account":"physics"`, `"account":"%s"`)
	rec = strings.ReplaceAll(rec, `"submission":1795477178`, `"submission":%d`)
	var js, sa []string
	d := slurm.SacctDelimiter
	for id := 8; id <= 10; id++ {
		js = append(js, fmt.Sprintf(rec, benchAccounts[id%4], id, benchUsers[id%8], 1795477178+id))
		sub := time.Unix(int64(1795477178+id), 0).UTC().Format("2006-01-02T15:04:05")
		end := time.Unix(int64(1795477178+id+3600), 0).UTC().Format("2006-01-02T15:04:05")
		sa = append(sa, strings.Join([]string{fmt.Sprint(id), fmt.Sprint(id), "synthetic", benchUsers[id%8], benchAccounts[id%4], "cpu", "normal",
			"COMPLETED", "None", "0:0", sub, sub, sub, end, "3600", "120", "00:00:00", "03:20:00.005", "1", "1",
			"billing=4,cpu=4,mem=8G,node=1", "billing=4,cpu=4,mem=8G,node=1", "node01", "testbed"}, d)+"\n"+
			strings.Join([]string{fmt.Sprint(id) + ".batch", fmt.Sprint(id) + ".batch", "batch", "", benchAccounts[id%4], "", "",
				"COMPLETED", "", "0:0", sub, sub, sub, end, "3600", "", "00:00:00", "03:20:00.005", "1", "1",
				"", "cpu=4,mem=8G,node=1", "node01", "testbed"}, d)+"\n")
	}
	if got, want := read(jsonGen(3, 7)), `{"meta":{},"errors":[],"jobs":[`+strings.Join(js, ",")+"]}"; got != want {
		t.Errorf("JSON generator:\n got %.300s\nwant %.300s", got, want)
	}
	if got, want := read(sacctGen(3, 7)), strings.Join(sa, ""); got != want {
		t.Errorf("sacct generator:\n got %q\nwant %q", got, want)
	}
}
