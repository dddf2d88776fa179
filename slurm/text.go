package slurm

import (
	"strings"
	"unicode/utf8"
)

// CleanText makes s storable as PostgreSQL text: invalid UTF-8 and NUL
// bytes become U+FFFD. Slurm stores job names and comments as raw bytes,
// so a job named with a stray Latin-1 byte or a NUL is real input; left
// as it is, one such record would fail the whole window, on every retry.
func CleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanText applies CleanText to every text field of a record.
func (j *Job) cleanText() {
	for _, p := range []*string{&j.Cluster, &j.Name, &j.User, &j.Account, &j.Partition, &j.QOS, &j.State, &j.Reason, &j.NodeList} {
		*p = CleanText(*p)
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		for _, p := range []*string{&s.ID, &s.Name, &s.State, &s.NodeList} {
			*p = CleanText(*p)
		}
	}
	for _, m := range []map[string]int64{j.Requested.GPUByType, j.Allocated.GPUByType} {
		for t, n := range m {
			if c := CleanText(t); c != t {
				delete(m, t)
				m[c] = n
			}
		}
	}
}
