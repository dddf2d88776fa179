package pdfdoc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/testenv"
)

// systemFonts are the default fonts, or a skip (a failure under make
// test) naming the packages to install.
func systemFonts(t *testing.T) *Fonts {
	t.Helper()
	fs, problems := SystemFonts()
	if len(problems) > 0 {
		testenv.Missing(t, fmt.Sprintf("PDF fonts missing (Debian: fonts-dejavu-core fonts-wqy-microhei): %v", problems))
	}
	return fs
}

// The xref table points at every object and long documents flow onto
// more pages, in Helvetica and in embedded fonts alike.
func TestWriteIsWellFormed(t *testing.T) {
	var lines []Line
	lines = append(lines, Line{Text: "Statement 2026-10-0001 (chem)", Bold: true, Size: 16})
	for i := 0; i < 120; i++ {
		lines = append(lines, Line{Text: fmt.Sprintf("line %d: a (paren) and a \\ backslash, é, 数据", i)})
	}
	for _, tc := range []struct {
		name  string
		fonts func(t *testing.T) *Fonts
	}{
		{"helvetica", func(*testing.T) *Fonts { return nil }},
		{"embedded", systemFonts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fonts(t)
			var buf bytes.Buffer
			if err := fs.Write(&buf, "Tally statement", lines); err != nil {
				t.Fatal(err)
			}
			pdf := buf.String()
			if !strings.HasPrefix(pdf, "%PDF-1.4") || !strings.HasSuffix(pdf, "%%EOF\n") {
				t.Fatal("not a PDF")
			}
			m := regexp.MustCompile(`startxref\n(\d+)\n`).FindStringSubmatch(pdf)
			xref, _ := strconv.Atoi(m[1])
			if !strings.HasPrefix(pdf[xref:], "xref\n") {
				t.Fatal("startxref does not point at the xref table")
			}
			entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllStringSubmatch(pdf[xref:], -1)
			for i, e := range entries {
				off, _ := strconv.Atoi(e[1])
				if !strings.HasPrefix(pdf[off:], fmt.Sprintf("%d 0 obj", i+1)) {
					t.Fatalf("xref entry %d points at %q", i+1, pdf[off:off+10])
				}
			}
			if !strings.Contains(pdf, "/Count 3") {
				t.Errorf("121 lines should take 3 pages")
			}
			if fs == nil && !strings.Contains(pdf, `a \(paren\) and a \\ backslash, \351, ??`) {
				t.Error("text not escaped as expected")
			}
		})
	}
}

// People's names in any script come back out of the PDF as they went
// in, in regular and bold lines and mixed in one line, and the document
// carries only the glyphs it uses.
func TestNamesInEveryScriptRoundTrip(t *testing.T) {
	fs := systemFonts(t)
	names := []string{"Zoë Ångström", "Δημήτρης", "Дмитрий", "王小明", "山田太郎", "김민준", "Zoë Ångström 王小明 김민준 Дмитрий · 12.50 € − 3 %"}
	var lines []Line
	var want []string
	for _, n := range names {
		lines = append(lines, Line{Text: "PI: " + n}, Line{Text: n, Bold: true, Size: 12, Gap: true})
		want = append(want, "PI: "+n, n)
	}
	var buf bytes.Buffer
	if err := fs.Write(&buf, "Statement for 王小明", lines); err != nil {
		t.Fatal(err)
	}
	text := testenv.PDFText(t, buf.Bytes())
	var gotLines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(strings.Trim(l, "\f")); l != "" {
			gotLines = append(gotLines, l)
		}
	}
	if strings.Join(gotLines, "\n") != strings.Join(want, "\n") {
		t.Errorf("pdftotext read\n%s\nwant\n%s", strings.Join(gotLines, "\n"), strings.Join(want, "\n"))
	}
	// Subsets: the two fonts are 0.7 and 5 MB; the document is far less.
	if buf.Len() > 60_000 {
		t.Errorf("the PDF is %d bytes: fonts not subset?", buf.Len())
	}
	if !strings.Contains(buf.String(), "/Title <FEFF") {
		t.Error("a title outside ASCII is not written as UTF-16")
	}
}

// A line wider than the column wraps at a space, or anywhere in text
// without spaces (CJK), and no text is lost.
func TestLongLinesWrap(t *testing.T) {
	fs := systemFonts(t)
	long := strings.Repeat("amounts summed and rounded once ", 8)
	cjk := strings.Repeat("王小明山田太郎김민준", 12)
	for _, tc := range []struct {
		text string
		size float64
		join string // what the breaks took out
	}{
		{long, 10, " "},
		{cjk, 12, ""},
		{strings.Repeat("W", 120), 10, ""}, // one word wider than the page
		{"short", 10, ""},
	} {
		parts := fs.wrap(fs.clean(tc.text, false), tc.size, false)
		var joined []string
		for _, p := range parts {
			if w := fs.width(p, tc.size, false); w > textW {
				t.Errorf("a wrapped line is %.0f pt wide, more than %d", w, textW)
			}
			joined = append(joined, string(p))
		}
		if got := strings.Join(joined, tc.join); strings.TrimSpace(got) != strings.TrimSpace(tc.text) {
			t.Errorf("wrapping lost text:\n%q\n%q", got, tc.text)
		}
		if wantMany := fs.Width(tc.text, tc.size, false) > textW; wantMany != (len(parts) > 1) {
			t.Errorf("%q: %d parts", tc.text[:5], len(parts))
		}
	}
}

// Widths come from the fonts' advances: wide letters are wider, and a
// CJK ideograph is one em.
func TestWidthsFromTheFont(t *testing.T) {
	fs := systemFonts(t)
	if fs.Width("WWW", 10, false) <= fs.Width("iii", 10, false) {
		t.Error("W is not wider than i")
	}
	if w := fs.Width("王", 10, false); w < 9.5 || w > 10.5 {
		t.Errorf("an ideograph at 10 pt is %.2f pt wide", w)
	}
	if (*Fonts)(nil).Width("x", 10, false) != 0 {
		t.Error("Helvetica is not measured")
	}
}

// A character no font has prints as '?', as Helvetica did.
func TestMissingCharacterIsAQuestionMark(t *testing.T) {
	fs := systemFonts(t)
	var buf bytes.Buffer
	if err := fs.Write(&buf, "x", []Line{{Text: "run \U0001F680 done\tok"}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(testenv.PDFText(t, buf.Bytes())); got != "run ? done ok" {
		t.Errorf("got %q", got)
	}
}

// A subset keeps the components of a composite glyph (DejaVu builds
// accented letters from base and accent) and renumbers the references.
func TestSubsetKeepsCompositeComponents(t *testing.T) {
	systemFonts(t)
	f, err := LoadFont(DejaVuSans)
	if err != nil {
		t.Fatal(err)
	}
	var composite uint16
	for _, r := range "ÅǺǻÉé" {
		if g := f.glyph(r); g != 0 && len(f.glyphData(g)) >= 10 && int16(binary.BigEndian.Uint16(f.glyphData(g))) < 0 {
			composite = g
			break
		}
	}
	if composite == 0 {
		t.Skip("no composite glyph found in DejaVu Sans")
	}
	file, list := f.subset([]uint16{0, composite})
	sub, err := parseTables(file)
	if err != nil {
		t.Fatalf("the subset does not parse: %v", err)
	}
	if sub.numGlyphs != len(list) || len(list) < 3 {
		t.Fatalf("subset has %d glyphs, list %d", sub.numGlyphs, len(list))
	}
	if checksum(file) != 0xB1B0AFBA {
		t.Error("head.checkSumAdjustment is wrong")
	}
	for i, old := range list {
		got, orig := sub.glyphData(uint16(i)), f.glyphData(old)
		if sub.advance(uint16(i)) != f.advance(old) {
			t.Errorf("glyph %d: advance %d, want %d", i, sub.advance(uint16(i)), f.advance(old))
		}
		var refs []uint16
		components(got, func(at int) { refs = append(refs, binary.BigEndian.Uint16(got[at:])) })
		if len(refs) == 0 && !bytes.Equal(got, orig) {
			t.Errorf("simple glyph %d changed", i)
		}
		for _, r := range refs {
			if int(r) >= len(list) {
				t.Errorf("glyph %d refers to glyph %d outside the subset", i, r)
			}
		}
	}
}

// Anything but a TrueType font is refused with a reason, never a panic:
// CFF fonts, truncated files, other files.
func TestParseFontRefuses(t *testing.T) {
	real, err := os.ReadFile(DejaVuSans)
	if err != nil {
		real = nil
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"cff", append([]byte("OTTO"), make([]byte, 20)...), "CFF"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 20)...), "not a TrueType font"},
		{"no tables", append([]byte{0, 1, 0, 0}, make([]byte, 20)...), "no head table"},
	} {
		if _, err := ParseFont(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for n := 0; n < len(real); n += len(real)/97 + 1 {
		ParseFont(real[:n]) // must not panic
	}
	if _, problems := LoadFonts([]string{"/nonexistent/font.ttf"}, nil); len(problems) != 1 {
		t.Errorf("a missing font gave %v", problems)
	}
}

// Whatever text a job name or an account field holds (invalid UTF-8,
// control characters, characters no font has, very long words), writing
// succeeds and every wrapped line fits the column.
func FuzzWrite(f *testing.F) {
	for _, s := range []string{"", "Zoë 王小明 김민준", "\xff\xfe(\\)", "a\x00b\x1bc\td\ne", "\U0001F680\U00020000", strings.Repeat("王", 300), "\u200b\ufeff\u0301"} {
		f.Add(s, false)
	}
	fs, problems := SystemFonts()
	f.Fuzz(func(t *testing.T, s string, bold bool) {
		if len(problems) > 0 {
			testenv.Missing(t, fmt.Sprintf("PDF fonts missing: %v", problems))
		}
		var buf bytes.Buffer
		if err := fs.Write(&buf, s, []Line{{Text: s, Bold: bold}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range fs.wrap(fs.clean(s, bold), 10, bold) {
			if w := fs.width(p, 10, bold); w > textW && len(p) > 1 {
				t.Errorf("a wrapped line is %.0f pt wide", w)
			}
		}
	})
}
