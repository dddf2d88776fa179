package postgres

import (
	"strings"
	"testing"
	"unicode"
)

// formulaLike is what a spreadsheet may run, decided here apart from
// CSVSafe: after any white space and invisible characters, one of = + - @
// or a fullwidth form of them; or a leading tab or CR.
func formulaLike(s string) bool {
	if strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\r") {
		return true
	}
	t := strings.TrimLeftFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf)
	})
	return t != "" && strings.ContainsRune("=+-@＝＋－＠", []rune(t)[0])
}

// Item 14: the guard looks past leading blanks, line breaks and invisible
// characters, and knows the fullwidth signs; plain text is left alone.
func TestAbuse14FormulaGuardLooksPastBlanks(t *testing.T) {
	for _, tc := range []struct {
		in      string
		guarded bool
	}{
		{` =HYPERLINK("http://x")`, true},
		{"\n=1+1", true},
		{"\r\n@SUM(A1)", true},
		{"\t-2+3", true},
		{"\t", true},
		{"\rplain", true},
		{"\u00a0+1", true},   // no-break space
		{"\u3000-1", true},   // ideographic space
		{"\u200b=1", true},   // zero-width space
		{"\ufeff=1", true},   // byte order mark
		{"\x00=1", true},     // NUL
		{"＝1+1", true},       // fullwidth equals
		{"  ＠SUM(A1)", true}, // fullwidth commercial at
		{"－1", true},         // fullwidth hyphen-minus
		{"＋1", true},         // fullwidth plus
		{"=1+1", true},       // the first byte, as before
		{"-12.50", true},     // as text; amounts are written as numbers and never pass here
		{"COMPLETED", false}, // the state column
		{"CANCELLED by 0", false},
		{"physics", false},
		{"", false},
		{" plain", false},
		{"\n\n", false},
		{"a=b", false},
		{"'=already text", false},
		{"é=1", false},
	} {
		got := CSVSafe(tc.in)
		switch {
		case tc.guarded && got != "'"+tc.in:
			t.Errorf("CSVSafe(%q) = %q, want it guarded", tc.in, got)
		case !tc.guarded && got != tc.in:
			t.Errorf("CSVSafe(%q) = %q, want it unchanged", tc.in, got)
		}
		if formulaLike(tc.in) != tc.guarded {
			t.Errorf("the test's own reading of %q disagrees with the table", tc.in)
		}
	}
}
