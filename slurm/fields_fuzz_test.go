package slurm

import (
	"fmt"
	"testing"
)

// formatDuration writes microseconds in the longest form
// ParseSlurmDuration reads, D-HH:MM:SS.ffffff.
func formatDuration(us int64) string {
	secs, frac := us/1_000_000, us%1_000_000
	return fmt.Sprintf("%d-%02d:%02d:%02d.%06d", secs/86400, secs%86400/3600, secs%3600/60, secs%60, frac)
}

// FuzzParseSlurmDuration: any text is refused or read as a non-negative
// duration that reads back the same when written out again (no overflow
// ever turns a huge elapsed time into a small or negative one).
func FuzzParseSlurmDuration(f *testing.F) {
	for _, s := range []string{"00:00:01", "1-02:03:04", "12:34", "59.5", "00:01.250", "10-00:00:00.000001",
		"106751991-04:00:54", "9223372036854775807", "-1", "1-", "::", "1.", "1-1:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		us, err := ParseSlurmDuration(s)
		if err != nil {
			return
		}
		if us < 0 {
			t.Fatalf("%q read as %d µs", s, us)
		}
		again, err := ParseSlurmDuration(formatDuration(us))
		if err != nil || again != us {
			t.Fatalf("%q = %d µs, written %q, read back %d (%v)", s, us, formatDuration(us), again, err)
		}
	})
}

// FuzzParseTRES: any text is refused or read as non-negative counts; no
// memory size or GPU total overflows, whatever the units.
func FuzzParseTRES(f *testing.F) {
	for _, s := range []string{"billing=2,cpu=2,mem=1024M,node=1,gres/gpu:a100=2", "cpu=1,mem=1.5G", "mem=512K",
		"gres/gpu=4,gres/gpu:a100=2,gres/gpu:h100=2", "energy=-2", "mem=9223372036854775807P", "mem=NaNG", "mem=InfM",
		"cpu=,mem=", "license/matlab=1", "=", ",,", "cpu=-1", "gres/gpu:a=-1,gres/gpu:b=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTRES(s)
		if err != nil {
			return
		}
		for name, n := range map[string]int64{"cpu": tr.CPU, "mem": tr.MemMiB, "node": tr.Nodes, "billing": tr.Billing,
			"energy": tr.EnergyJ, "gpu": tr.GPU} {
			if n < 0 {
				t.Fatalf("%q: %s = %d", s, name, n)
			}
		}
		for typ, n := range tr.GPUByType {
			if n < 0 {
				t.Fatalf("%q: gpu:%s = %d", s, typ, n)
			}
		}
	})
}
