package templates

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// Money shows an amount rounded to its currency's minor unit by the
// page's rounding policy (the one in billing); the exact micro-unit
// amounts are on receipts' lines and in the CSV exports.
func (p Page) Money(m billing.Micros, currency string) string { return p.Policy.Money(m, currency) }

// ExactMoney shows all six decimals.
func ExactMoney(m billing.Micros) string { return m.String() }

// Duration shows elapsed seconds as D-HH:MM:SS like Slurm.
func Duration(sec int64) string {
	d, h, m, s := sec/86400, sec%86400/3600, sec%3600/60, sec%60
	if d > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// Timestamp is how pages, PDFs and statements show a moment: to the
// minute, with its zone, "2026-11-03 14:05 UTC". Tally keeps and shows
// times in UTC, as Slurm's accounting is read; every page formats through
// here (or TimestampSeconds), so a configured zone would be one change.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// TimestampSeconds is Timestamp to the second, for logs (audit, ingest runs).
func TimestampSeconds(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

// When shows a time as Timestamp does, or a dash for none.
func When(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return Timestamp(*t)
}

// Percent shows parts per million as a percentage.
func Percent(ppm *int64) string {
	if ppm == nil {
		return "—"
	}
	return strconv.FormatInt(*ppm/10000, 10) + "%"
}

// JobLabel shows 123, 4_1 for array tasks.
func JobLabel(id, arrayJob int64, task *int64) string {
	if arrayJob != 0 && task != nil {
		return fmt.Sprintf("%d_%d", arrayJob, *task)
	}
	return strconv.FormatInt(id, 10)
}

// JobHref is a job's receipt by cluster and Slurm's id for it
// (/jobs/testbed/55387_3): the address people can read and type. The
// newest job with that id, when Slurm gave it to several (its receipt
// links the others); /jobs/{row id} keeps naming one row.
func JobHref(cluster string, id, arrayJob int64, task *int64) string {
	return SlurmIDHref(cluster, JobLabel(id, arrayJob, task))
}

// SlurmIDHref is JobHref for an id already in Slurm's form (55387_3), as
// the running-now page has it.
func SlurmIDHref(cluster, slurmID string) string {
	return "/jobs/" + url.PathEscape(cluster) + "/" + slurmID
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// Count prints a count with thousands separators: 1234567 → 1,234,567.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Plural is a count with its noun, singular for exactly one and with
// thousands separators: "1 CPU", "0 GPUs", "1,024 jobs". Every count a page
// spells out goes through it, so none reads "1 jobs".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return Count(n) + " " + one
	}
	return Count(n) + " " + many
}

// Requested is what a job asked for, on its receipt and in its PDF:
// "1 CPU, 2,048 MiB, 0 GPUs".
func Requested(cpus, memMiB, gpus int64) string {
	return Plural(cpus, "CPU", "CPUs") + ", " + Count(memMiB) + " MiB, " + Plural(gpus, "GPU", "GPUs")
}

// Noun is the noun for a count already shown (as Count shows it), for
// pages that keep the number in an element of its own: "job" after "1",
// "jobs" after anything else.
func Noun(shown, one, many string) string {
	if shown == "1" {
		return one
	}
	return many
}
