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

// When shows a time in UTC, or a dash.
func When(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
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
	return "/jobs/" + url.PathEscape(cluster) + "/" + JobLabel(id, arrayJob, task)
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
