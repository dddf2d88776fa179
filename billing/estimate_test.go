package billing

import (
	"math"
	"strings"
	"testing"
	"time"
)

// Item 13: sizes and times that would wrap 64 bits, counts past what
// ingest believes, and names the card does not know are refused with a
// message, never priced.
func TestAbuse13EstimateParsersRefuseOverflow(t *testing.T) {
	type parsed struct {
		name string
		got  int64
		err  error
	}
	mem := func(s string) parsed { n, err := ParseMemory(s); return parsed{"memory " + s, n, err} }
	wall := func(s string) parsed {
		d, err := ParseWalltime(s)
		return parsed{"time " + s, int64(d / time.Second), err}
	}
	cpu := func(s string) parsed {
		d, err := ParseCPUTime(s)
		return parsed{"CPU time " + s, int64(d / time.Second), err}
	}
	gpus := func(s string) parsed {
		m, err := ParseGPUs(s)
		var n int64
		for _, c := range m {
			n += c
		}
		return parsed{"GPUs " + s, n, err}
	}
	for _, tc := range []struct {
		p    parsed
		want int64  // when accepted
		err  string // "" accepted
	}{
		{mem("8796093022208T"), 0, "at most 16384T"}, // 2^63 MiB: wrapped to a negative size, and was dropped
		{mem("9223372036854775807"), 0, "at most"},
		{mem("99999999999999999999999G"), 0, "at most"},
		{mem("16385T"), 0, "at most"},
		{mem("16384T"), MaxPlausibleMemMiB, ""},
		{mem("64G"), 64 << 10, ""},
		{mem("64GB"), 64 << 10, ""},
		{mem("512m"), 512, ""},
		{mem("-1G"), 0, "want a size"},
		{mem("1K"), 0, "use M, G or T"},
		{mem("G"), 0, "want a size"},
		{wall("9223372036854775807"), 0, "at most"}, // minutes
		{wall("106751991167300-00:00:00"), 0, "at most"},
		{wall("1-9223372036854775807:00:00"), 0, "at most"},
		{wall("1826-00:00:00"), 0, "at most 1825-00:00:00"},
		{wall("1825-00:00:00"), MaxPlausibleElapsed, ""},
		{wall("0-5"), 5 * 3600, ""},
		{wall("1:2:3:4"), 0, "want a Slurm time"},
		{wall("-5"), 0, "want a Slurm time"},
		{cpu("2000-00:00:00"), 2000 * 86400, ""}, // years of CPU time in a short wide job
		{cpu("106752-00:00:00"), 0, "at most"},   // past what a time.Duration holds
		{gpus("a100:9223372036854775807,a100:9223372036854775807"), 0, "at most 100000"},
		{gpus("100001"), 0, "at most"},
		{gpus("a100:60000,v100:50000"), 0, "at most"},
		{gpus("a100:60000,v100:40000"), 100_000, ""},
		{gpus("a100:"), 0, "want a count"},
	} {
		switch {
		case tc.err == "" && (tc.p.err != nil || tc.p.got != tc.want):
			t.Errorf("%s: %d, %v; want %d", tc.p.name, tc.p.got, tc.p.err, tc.want)
		case tc.err != "" && (tc.p.err == nil || !strings.Contains(tc.p.err.Error(), tc.err)):
			t.Errorf("%s: %d, %v; want an error saying %q", tc.p.name, tc.p.got, tc.p.err, tc.err)
		}
		if _, ok := tc.p.err.(*Error); tc.p.err != nil && !ok {
			t.Errorf("%s: %T is not a billing error with a safe message", tc.p.name, tc.p.err)
		}
	}
}

func TestAbuse13EstimateRefusesImplausibleAndUnknown(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	base := func() EstimateInput {
		return EstimateInput{Partition: "gpu", QOS: "normal", CPUs: 4, MemMiB: 16 << 10, Duration: time.Hour,
			End: at("2026-10-10T12:00:00Z"), Typed: true}
	}
	for _, tc := range []struct {
		name string
		edit func(*EstimateInput)
		err  string // "" priced
	}{
		{"as typed", func(*EstimateInput) {}, ""},
		{"cpus=MaxInt64", func(in *EstimateInput) { in.CPUs = math.MaxInt64 }, "CPUs: at most 500000"}, // was -0.03 USD
		{"cpus past ingest's limit", func(in *EstimateInput) { in.CPUs = MaxPlausibleCPUs + 1 }, "CPUs: at most"},
		{"memory 2^63-1 MiB", func(in *EstimateInput) { in.MemMiB = math.MaxInt64 }, "memory: at most"},
		{"negative memory", func(in *EstimateInput) { in.MemMiB = -1 }, "memory"},
		{"nodes=MaxInt64", func(in *EstimateInput) { in.Nodes = math.MaxInt64 }, "nodes: at most"},
		{"time past five years", func(in *EstimateInput) { in.Duration = (MaxPlausibleElapsed + 1) * time.Second }, "time: at most"},
		{"GPUs that wrap", func(in *EstimateInput) { in.GPUs = map[string]int64{"a100": math.MaxInt64, "": math.MaxInt64} }, "GPUs: at most"},
		{"negative GPUs", func(in *EstimateInput) { in.GPUs = map[string]int64{"": -4} }, "GPUs"},
		{"negative CPU time", func(in *EstimateInput) { in.CPUTime = -time.Hour }, "CPU time"},
		{"GPU type the card prices", func(in *EstimateInput) { in.GPUs = map[string]int64{"a100": 2} }, ""},
		{"GPU type the card does not know", func(in *EstimateInput) { in.GPUs = map[string]int64{"h100": 2} }, `GPU type "h100": rate card standard v1 prices a100`},
		{"untyped GPUs", func(in *EstimateInput) { in.GPUs = map[string]int64{"": 2} }, ""},
		{"QOS the card knows", func(in *EstimateInput) { in.QOS = "standby" }, ""},
		{"no QOS", func(in *EstimateInput) { in.QOS = "" }, ""},
		{"QOS the card does not know", func(in *EstimateInput) { in.QOS = "premium" }, `QOS "premium": rate card standard v1 knows normal, debug, standby`},
		{"account Slurm knows", func(in *EstimateInput) { in.Account, in.AccountKnown = "physics", true }, ""},
		{"account the card names", func(in *EstimateInput) { in.Account = "chem" }, ""},
		{"unknown account", func(in *EstimateInput) { in.Account = "nosuch" }, `account "nosuch" is unknown`},
		{"stored job: names not checked", func(in *EstimateInput) {
			in.Typed, in.QOS, in.Account, in.GPUs = false, "premium", "nosuch", map[string]int64{"h100": 1}
		}, ""},
		{"stored job: still bounded", func(in *EstimateInput) { in.Typed, in.CPUs = false, math.MaxInt64 }, "CPUs: at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.edit(&in)
			ch, err := r.Estimate(in)
			if tc.err == "" {
				if err != nil || ch.Total <= 0 {
					t.Fatalf("total %s, %v", ch.Total, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("total %s, %v; want an error saying %q", ch.Total, err, tc.err)
			}
			if e, ok := err.(*Error); !ok || e.Kind != KindInvalid {
				t.Fatalf("%v is not an invalid-input error", err)
			}
		})
	}
}

// Item 22.7: a partition that prices the CPU time used is estimated from
// the CPU time the person expects, and by default from full use of the
// CPUs asked for over the whole time (never 0.00, as it was).
func TestEstimateCPUTimePartition(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	for _, tc := range []struct {
		name      string
		edit      func(*EstimateInput)
		cpuMicros int64
		total     Micros // usage: 0.03 per CPU-hour
	}{
		{"full use by default", func(*EstimateInput) {}, 10 * 3600 * 1_000_000, 300_000},
		{"efficiency 50 %", func(in *EstimateInput) { in.CPUEfficiencyPPM = 500_000 }, 5 * 3600 * 1_000_000, 150_000},
		{"efficiency 100 %", func(in *EstimateInput) { in.CPUEfficiencyPPM = 1_000_000 }, 10 * 3600 * 1_000_000, 300_000},
		{"CPU time given", func(in *EstimateInput) { in.CPUTime = 2 * time.Hour }, 2 * 3600 * 1_000_000, 60_000},
		{"CPU time wins over efficiency", func(in *EstimateInput) { in.CPUTime, in.CPUEfficiencyPPM = 2*time.Hour, 500_000 }, 2 * 3600 * 1_000_000, 60_000},
		{"no CPUs given: one", func(in *EstimateInput) { in.CPUs = 0 }, 5 * 3600 / 2 * 1_000_000, 75_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := EstimateInput{Partition: "usage", QOS: "normal", CPUs: 4, Duration: 150 * time.Minute,
				End: at("2026-10-10T12:00:00Z"), Typed: true}
			tc.edit(&in)
			got, err := in.ExpectedCPUMicros()
			if err != nil || got != tc.cpuMicros {
				t.Fatalf("ExpectedCPUMicros = %d, %v; want %d", got, err, tc.cpuMicros)
			}
			ch, err := r.Estimate(in)
			if err != nil || ch.Total != tc.total {
				t.Fatalf("total %s, %v; want %s", ch.Total, err, tc.total)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   EstimateInput
		err  string
	}{
		{"efficiency past 100 %", EstimateInput{CPUs: 1, Duration: time.Hour, CPUEfficiencyPPM: 1_000_001}, "CPU efficiency"},
		{"negative efficiency", EstimateInput{CPUs: 1, Duration: time.Hour, CPUEfficiencyPPM: -1}, "CPU efficiency"},
		{"CPU time past a record", EstimateInput{CPUs: MaxPlausibleCPUs, Duration: MaxPlausibleElapsed * time.Second}, "CPUs × time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Partition, in.End = "usage", at("2026-10-10T12:00:00Z")
			if _, err := r.Estimate(in); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%v; want an error saying %q", err, tc.err)
			}
		})
	}
}

func TestParseEfficiency(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"", 0, false}, {"75", 750_000, false}, {"75%", 750_000, false}, {" 12.5 % ", 125_000, false},
		{"100", 1_000_000, false}, {"0.0001", 1, false}, {"3", 30_000, false},
		{"0", 0, true}, {"100.01", 0, true}, {"-5", 0, true}, {"abc", 0, true}, {"1.23456", 0, true}, {".5", 0, true}, {"1e2", 0, true},
	} {
		got, err := ParseEfficiency(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseEfficiency(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
