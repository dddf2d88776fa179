package slurm

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func fixtureFormat(t *testing.T) string {
	b, err := os.ReadFile("testdata/testbed/sacct-format.txt")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func parseSacct(t *testing.T, format, delim, in string) ([]Job, []Reject) {
	t.Helper()
	p, err := NewSacctParser(format, delim)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []Job
	var rejects []Reject
	err = p.Parse(strings.NewReader(in),
		func(j Job) error { jobs = append(jobs, j); return nil },
		func(r Reject) error { rejects = append(rejects, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return jobs, rejects
}

func TestSacctFixturesGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/testbed/sacct-P*.txt")
	if len(files) < 6 {
		t.Fatalf("sacct fixtures: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			jobs, rejects := parseSacct(t, fixtureFormat(t), "|", string(b))
			if len(rejects) > 0 {
				t.Fatalf("rejects: %+v", rejects)
			}
			out, _ := json.MarshalIndent(jobs, "", " ")
			golden(t, "testbed/"+strings.TrimSuffix(filepath.Base(f), ".txt")+".golden.json", append(out, '\n'))
		})
	}
}

// sacct text and slurmrestd JSON of the same window agree on every field
// both carry (sacct prints CPU time to the millisecond).
func TestSacctAgreesWithREST(t *testing.T) {
	b, _ := os.ReadFile("testdata/testbed/sacct-P-duplicates.txt")
	text, _ := parseSacct(t, fixtureFormat(t), "|", string(b))
	rest, _ := decodeFile(t, "testdata/testbed/slurmdb-v0.0.38-jobs.json")
	byKey := map[Key]Job{}
	for _, j := range rest {
		byKey[j.Key()] = j
	}
	if len(text) != len(rest) {
		t.Fatalf("sacct %d records, REST %d", len(text), len(rest))
	}
	for _, s := range text {
		r, ok := byKey[s.Key()]
		if !ok {
			t.Errorf("job %d submitted %v: not in the REST answer", s.JobID, s.Submit)
			continue
		}
		// The fixture's --format lacks Eligible, TimelimitRaw and NodeList.
		r.Eligible, r.TimeLimitMinutes, r.NodeList = s.Eligible, s.TimeLimitMinutes, s.NodeList
		r.Steps = append([]Step(nil), r.Steps...)
		for i := range r.Steps {
			if i < len(s.Steps) {
				r.Steps[i].NodeList = s.Steps[i].NodeList
			}
		}
		if d := CompareRecords(s, r); d != "" {
			t.Errorf("job %d: %s", s.JobID, d)
		}
	}
}

func TestSacctBadLines(t *testing.T) {
	format := "JobID,JobIDRaw,JobName,User,State,ExitCode,Submit,Start,End,ElapsedRaw,TotalCPU,AllocTRES"
	d := SacctDelimiter
	line := func(fields ...string) string { return strings.Join(fields, d) + "\n" }
	in := line("1", "1", "ok", "alice", "COMPLETED", "0:0", "2026-11-01T00:00:00", "2026-11-01T00:00:01", "2026-11-01T00:01:01", "60", "00:30.500", "cpu=2,mem=1G,node=1") +
		line("1.batch", "1.batch", "batch", "", "COMPLETED", "0:0", "2026-11-01T00:00:01", "2026-11-01T00:00:01", "2026-11-01T00:01:01", "60", "00:30.500", "cpu=2,mem=1G,node=1") +
		"2" + d + "2" + d + "too few fields\n" +
		line("2.batch", "2.batch", "batch", "", "COMPLETED", "0:0", "2026-11-01T00:00:01", "", "", "1", "00:00:01", "") +
		line("3", "3", "bad-time", "bob", "FAILED", "1:0", "yesterday", "", "", "0", "0", "") +
		line("4", "4", "bad-tres", "bob", "FAILED", "1:0", "2026-11-01T00:00:00", "", "", "0", "0", "mem=lots") +
		line("5", "5", "name|with|pipes", "bob", "CANCELLED by 1003", "0:15", "2026-11-01T00:00:00", "2026-11-01T00:00:00", "2026-11-01T00:00:09", "9", "1-02:03:04", "cpu=1,gres/gpu=2,gres/gpu:a100=2") +
		line("9.batch", "9.batch", "batch", "", "COMPLETED", "0:0", "", "", "", "0", "0", "")
	jobs, rejects := parseSacct(t, format, d, in)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2 (1 and 5)", len(jobs))
	}
	if j := jobs[0]; j.CPUTimeMicros != 30_500_000 || j.Allocated.MemMiB != 1024 || j.StepCount != 1 {
		t.Errorf("job 1: %+v", j)
	}
	if j := jobs[1]; j.Name != "name|with|pipes" || j.State != "CANCELLED" || j.ExitSignal != 15 ||
		j.CPUTimeMicros != (26*3600+3*60+4)*1_000_000 || j.Allocated.GPU != 2 || j.Allocated.GPUByType["a100"] != 2 {
		t.Errorf("job 5: %+v", j)
	}
	wantLines := []int{3, 4, 5, 6, 8}
	if len(rejects) != len(wantLines) {
		t.Fatalf("rejects %+v", rejects)
	}
	for i, r := range rejects {
		if r.Line != wantLines[i] || r.Err == "" || r.Raw == "" {
			t.Errorf("reject %d: %+v", i, r)
		}
	}
}

func TestParseSlurmDuration(t *testing.T) {
	for in, want := range map[string]int64{
		"00:03.726":       3_726_000,
		"00:00:00":        0,
		"01:02:03":        3723_000_000,
		"1-00:00:00":      86400_000_000,
		"2-03:04:05.5":    (2*86400+3*3600+4*60+5)*1_000_000 + 500_000,
		"59.25":           59_250_000,
		"00:00:01.123456": 1_123_456,
		// the longest that fits: 9,223,372,036,853 s
		"106751991-04:00:53": 9_223_372_036_853_000_000,
	} {
		got, err := ParseSlurmDuration(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1-2", "1:2:3:4", "-1:00", "00:00.", "1.1234567",
		// would overflow int64 microseconds and wrap to a small or negative time
		"106751991-04:00:54", "9223372036854775807", "153722867280912:00", "999999999999-00:00:00"} {
		if _, err := ParseSlurmDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseTRESUnits(t *testing.T) {
	for in, want := range map[string]int64{"mem=1G": 1024, "mem=2000M": 2000, "mem=512K": 1, "mem=1.5G": 1536, "mem=1T": 1048576, "mem=100": 100,
		"mem=1025K": 2, "mem=9223372036854775807K": 9007199254740992} {
		tr, err := ParseTRES(in)
		if err != nil || tr.MemMiB != want {
			t.Errorf("%s: %d %v, want %d", in, tr.MemMiB, err, want)
		}
	}
	// Sizes whose MiB would overflow, or that are not numbers at all though
	// strconv.ParseFloat reads them, are refused rather than wrapped.
	for _, bad := range []string{"mem=9223372036854775807G", "mem=8796093022208T", "mem=NaNG", "mem=InfM", "mem=1e300P", "mem=-1.5G"} {
		if tr, err := ParseTRES(bad); err == nil {
			t.Errorf("%s accepted as %d MiB", bad, tr.MemMiB)
		}
	}
	// Typed GPU counts that add past int64 saturate, staying absurd.
	tr, err := ParseTRES("gres/gpu:a=9223372036854775807,gres/gpu:b=9223372036854775807")
	if err != nil || tr.GPU != math.MaxInt64 {
		t.Errorf("GPU total %d %v, want MaxInt64", tr.GPU, err)
	}
}

func FuzzSacctLine(f *testing.F) {
	b, _ := os.ReadFile("testdata/testbed/sacct-P.txt")
	for _, l := range strings.Split(string(b), "\n")[:6] {
		f.Add(l)
	}
	f.Add("1|1|x|u|a|p|CANCELLED by 3|0:15|2026-01-01T00:00:00|Unknown|Unknown|1-00:00:00|5|00:01.5|1|1|1|cpu=1|mem=1.5G|1G|c|q")
	format := "JobID,JobIDRaw,JobName,User,Account,Partition,State,ExitCode,Submit,Start,End,Elapsed,ElapsedRaw,TotalCPU,CPUTimeRAW,NCPUS,NNodes,ReqTRES,AllocTRES,ReqMem,Cluster,QOS"
	f.Fuzz(func(t *testing.T, line string) {
		p, _ := NewSacctParser(format, "|")
		lines := 0
		_ = p.Parse(strings.NewReader(line+"\n"+line), func(j Job) error { _ = j.Hash(); storable(t, j); lines++; return nil },
			func(r Reject) error {
				if r.Err == "" {
					t.Fatal("reject without a reason")
				}
				if !utf8.ValidString(r.Raw) || strings.IndexByte(r.Raw, 0) >= 0 {
					t.Fatalf("reject line %q cannot be stored", r.Raw)
				}
				return nil
			})
	})
}
