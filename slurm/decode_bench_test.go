package slurm

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// benchAnswers are the largest recorded jobs answer of each Slurm release
// and API version: the 22.05 testbed's, the v0.0.39/40 answers derived from
// it (testdata/schema), the 24.11 testbed's, and Slurm-web's recordings of
// 24.05 to 25.11 (one job a file, so the largest file).
func benchAnswers(tb testing.TB) [][2]string {
	out := [][2]string{
		{"22.05-v0.0.38", "testdata/testbed/slurmdb-v0.0.38-jobs.json"},
		{"schema-v0.0.39", "testdata/schema/slurmdb-v0.0.39-jobs.json"},
		{"schema-v0.0.40", "testdata/schema/slurmdb-v0.0.40-jobs.json"},
		{"24.11-testbed-v0.0.42", "testdata/testbed-24.11/slurmdb-v0.0.42-job-requeued.json"},
	}
	dirs, _ := filepath.Glob("testdata/upstream/*/0.0.*")
	sort.Strings(dirs)
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "slurmdb-job-*.json"))
		best, size := "", int64(-1)
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Size() > size {
				best, size = f, st.Size()
			}
		}
		rel, api := filepath.Base(filepath.Dir(d)), filepath.Base(d)
		out = append(out, [2]string{rel + "-v" + api, best})
	}
	if len(out) < 10 {
		tb.Fatalf("only %d answers", len(out))
	}
	return out
}

// repeatReader streams an answer of n records, cycling through recs as
// slurmrestd printed them, without holding the whole answer.
type repeatReader struct {
	recs [][]byte
	n, i int
	cur  []byte
	tail bool
	sep  bool // the separator before record i went out
}

func newRepeatReader(recs [][]byte, n int) *repeatReader {
	return &repeatReader{recs: recs, n: n, cur: []byte("{\n  \"meta\": {},\n  \"errors\": [\n  ],\n  \"jobs\": [\n    ")}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		switch {
		case r.i < r.n:
			if r.i > 0 && !r.sep {
				r.cur, r.sep = []byte(",\n    "), true
				continue
			}
			r.cur, r.sep = r.recs[r.i%len(r.recs)], false
			r.i++
		case !r.tail:
			r.tail, r.cur = true, []byte("\n  ]\n}\n")
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func answerRecords(tb testing.TB, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var a struct{ Jobs []json.RawMessage }
	if err := json.Unmarshal(b, &a); err != nil {
		tb.Fatal(err)
	}
	var recs [][]byte
	for _, j := range a.Jobs {
		recs = append(recs, bytes.Clone(j))
	}
	if len(recs) == 0 {
		tb.Fatalf("%s: no jobs", path)
	}
	return recs
}

// BenchmarkDecodeJobs reports records/s of DecodeJobs (decode, normalise,
// hash) on each release's largest recorded answer, its jobs repeated to
// 10,000 records a stream. Run with -cpu 1 to measure one core;
// BenchmarkDecodeJobsOracle is the decoder it replaced, for comparison in
// the same run.
func BenchmarkDecodeJobs(b *testing.B) { benchDecode(b, DecodeJobs) }

func BenchmarkDecodeJobsOracle(b *testing.B) { benchDecode(b, decodeJobsOracle) }

func benchDecode(b *testing.B, decode func(io.Reader, func(Job) error) (JobsAnswer, error)) {
	for _, a := range benchAnswers(b) {
		recs := answerRecords(b, a[1])
		var size int
		for _, r := range recs {
			size += len(r)
		}
		b.Run(a[0], func(b *testing.B) {
			const perStream = 10_000
			b.SetBytes(int64(size * perStream / len(recs)))
			b.ReportAllocs()
			n := 0
			cpu0 := processCPU()
			for b.Loop() {
				_, err := decode(newRepeatReader(recs, perStream), func(j Job) error { n++; _ = j.Hash(); return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			// On a shared machine wall time says little; CPU time (with
			// -cpu 1, one core's) says what a core does.
			b.ReportMetric(float64(n)/(processCPU()-cpu0).Seconds(), "records/cpu-s")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
