package templates

import (
	"testing"
	"time"
)

func TestFormatHelpers(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 3, 15, 5, 9, 0, paris)
	task := int64(3)
	for _, c := range []struct{ name, got, want string }{
		{"a time carries its zone, in UTC", Timestamp(at), "2026-11-03 14:05 UTC"},
		{"to the second", TimestampSeconds(at), "2026-11-03 14:05:09 UTC"},
		{"When as Timestamp", When(&at), "2026-11-03 14:05 UTC"},
		{"no time", When(nil), "—"},
		{"one", Plural(1, "CPU", "CPUs"), "1 CPU"},
		{"two", Plural(2, "CPU", "CPUs"), "2 CPUs"},
		{"none", Plural(0, "job", "jobs"), "0 jobs"},
		{"thousands", Plural(1024, "job", "jobs"), "1,024 jobs"},
		{"requested", Requested(1, 2048, 0), "1 CPU, 2,048 MiB, 0 GPUs"},
		{"requested, many", Requested(128, 1048576, 1), "128 CPUs, 1,048,576 MiB, 1 GPU"},
		{"noun after one", Noun("1", "job", "jobs"), "job"},
		{"noun after many", Noun("1,001", "job", "jobs"), "jobs"},
		{"receipt by Slurm id", JobHref("testbed", 55390, 55387, &task), "/jobs/testbed/55387_3"},
		{"receipt of a plain job", JobHref("hpc", 55387, 0, nil), "/jobs/hpc/55387"},
		{"a cluster name is escaped", JobHref("a b/c", 7, 0, nil), "/jobs/a%20b%2Fc/7"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
}
