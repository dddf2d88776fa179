package postgres

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/billing"
)

// FuzzRowWriterMatchesEncodingCSV: the job lines export's hand-written CSV
// writer produces byte for byte what encoding/csv would, whatever a job
// name or account holds, and a spreadsheet reading it back finds the same
// cells with no formula among them, even behind leading blanks.
func FuzzRowWriterMatchesEncodingCSV(f *testing.F) {
	for _, s := range [][3]string{
		{"train.sh", "physics", "gpu"},
		{"=HYPERLINK(\"http://x\")", "+1", "-2"},
		{"@SUM(A1)", "\tlead", "\rcr"},
		{"a,b", "say \"hi\"", "two\nlines"},
		{" space", "\u00a0nbsp", `\.`},
		{"", "\r\n", "\x00\xff"},
		{" =HYPERLINK(\"http://x\")", "\n=1+1", "\u3000＝1"},
		{"\u200b@SUM(A1)", "\ufeff-2", "\u00a0+3"},
	} {
		f.Add(s[0], s[1], s[2], int64(42))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n int64) {
		cells := []string{CSVSafe(a), CSVSafe(b), CSVSafe(c)}
		var got bytes.Buffer
		out := &rowWriter{w: bufio.NewWriter(&got)}
		for _, s := range cells {
			out.field(s)
		}
		out.int(n)
		out.micros(billing.Micros(n))
		out.end()
		if err := out.flush(); err != nil {
			t.Fatal(err)
		}

		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		cw.Write(append(cells, strconv.FormatInt(n, 10), billing.Micros(n).String()))
		cw.Flush()
		if got.String() != want.String() {
			t.Fatalf("rowWriter wrote %q, encoding/csv %q", got.String(), want.String())
		}

		rec, err := csv.NewReader(&got).Read()
		if err != nil {
			t.Fatalf("reading back %q: %v", want.String(), err)
		}
		for i, s := range cells {
			// A reader turns CRLF inside a quoted cell into LF; nothing else changes.
			if rec[i] != strings.ReplaceAll(s, "\r\n", "\n") {
				t.Fatalf("cell %d: wrote %q, read back %q", i, s, rec[i])
			}
			if formulaLike(rec[i]) {
				t.Fatalf("cell %d reads back as a formula: %q", i, rec[i])
			}
		}
	})
}
