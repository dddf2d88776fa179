// Package pdfdoc writes simple text documents (statements, receipts) as
// PDF: A4 pages of lines, no dependencies. Set in TrueType fonts read from
// the system (Fonts), a document prints any script those fonts cover
// (Latin, Greek, Cyrillic, CJK with the defaults), each font embedded as a
// subset of the glyphs used, with a ToUnicode map so the text can be
// searched and copied. Without fonts it falls back to Helvetica, which
// prints Latin-1 only. Layout beyond lines, wrapping and bold is out of
// scope.
package pdfdoc

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"unicode/utf16"
)

// Line is one line of text; Bold sets it in the bold face; Gap adds
// space above it.
type Line struct {
	Text string
	Bold bool
	Size float64 // points; 10 when zero
	Gap  bool
}

const (
	pageW, pageH = 595, 842 // A4 in points
	margin       = 56
	textW        = pageW - 2*margin
)

// Debian's fonts that the defaults name (packages fonts-dejavu-core and
// fonts-wqy-microhei): DejaVu Sans sets Latin, Greek and Cyrillic;
// WenQuanYi Micro Hei, a TrueType font (Noto CJK is CFF, which a
// CIDFontType2 cannot carry), sets Chinese, Japanese and Korean.
const (
	DejaVuSans        = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
	DejaVuSansBold    = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
	WenQuanYiMicroHei = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
)

// SystemFonts loads the default fonts: what cmd/tally loads when not
// told otherwise, and what tests print with.
func SystemFonts() (*Fonts, []error) {
	return LoadFonts([]string{DejaVuSans, WenQuanYiMicroHei}, []string{DejaVuSansBold})
}

// Fonts are the faces documents are set in. Each character is taken from
// the first font that has it: for a bold line the bold fonts first, then
// the regular ones, which are then overprinted with a stroke so they
// still look bold. A nil *Fonts sets documents in Helvetica.
type Fonts struct {
	regular, bold []*Font
}

// NewFonts makes a set from fonts already loaded; regular must not be
// empty.
func NewFonts(regular, bold []*Font) (*Fonts, error) {
	if len(regular) == 0 {
		return nil, fmt.Errorf("pdfdoc: no regular font")
	}
	return &Fonts{regular: regular, bold: bold}, nil
}

// LoadFonts loads the font files that can be read, and says why each of
// the others could not. fs is nil when no regular font loaded: the
// caller warns and documents fall back to Helvetica.
func LoadFonts(regular, bold []string) (fs *Fonts, problems []error) {
	load := func(paths []string) []*Font {
		var out []*Font
		for _, p := range paths {
			f, err := LoadFont(p)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			out = append(out, f)
		}
		return out
	}
	r, b := load(regular), load(bold)
	if len(r) == 0 {
		return nil, problems
	}
	return &Fonts{regular: r, bold: b}, problems
}

// Write renders lines onto as many A4 pages as they need in Helvetica.
func Write(w io.Writer, title string, lines []Line) error {
	return (*Fonts)(nil).Write(w, title, lines)
}

// pick is the font that sets r in a line, and whether it is a true bold
// face (false for a regular font standing in on a bold line). nil when
// no font has r.
func (fs *Fonts) pick(r rune, bold bool) (*Font, uint16, bool) {
	if bold {
		for _, f := range fs.bold {
			if g := f.glyph(r); g != 0 {
				return f, g, true
			}
		}
	}
	for _, f := range fs.regular {
		if g := f.glyph(r); g != 0 {
			return f, g, !bold
		}
	}
	return nil, 0, false
}

// clean turns tabs and line breaks into spaces and drops other control
// characters, and puts '?' for a character no font has.
func (fs *Fonts) clean(s string, bold bool) []rune {
	var out []rune
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case r < 0x20 || r == 0x7f:
			continue
		}
		if f, _, _ := fs.pick(r, bold); f == nil {
			if f, _, _ := fs.pick('?', bold); f == nil {
				continue
			}
			r = '?'
		}
		out = append(out, r)
	}
	return out
}

// Width is how wide text is set at size points, in points: the sum of
// its glyphs' advances (hmtx). 0 without fonts.
func (fs *Fonts) Width(text string, size float64, bold bool) float64 {
	if fs == nil {
		return 0
	}
	return fs.width(fs.clean(text, bold), size, bold)
}

func (fs *Fonts) width(rs []rune, size float64, bold bool) float64 {
	var units float64
	for _, r := range rs {
		if f, g, _ := fs.pick(r, bold); f != nil {
			units += float64(f.advance(g)) / float64(f.unitsPerEm)
		}
	}
	return units * size
}

// wrap breaks a line wider than the text column at its last space that
// fits, or between characters when there is none (CJK has no spaces),
// measuring as it goes: its cost grows with the line's length, not its
// square.
func (fs *Fonts) wrap(rs []rune, size float64, bold bool) [][]rune {
	var out [][]rune
	start, space := 0, -1 // the current line's start and its last space
	w := 0.0              // width of rs[start:i]
	for i := 0; i < len(rs); i++ {
		cw := fs.width(rs[i:i+1], size, bold)
		for w+cw > textW && i > start {
			cut, next := i, i
			if space > start {
				cut, next = space, space+1
			}
			out = append(out, rs[start:cut])
			start, space = next, -1
			w = fs.width(rs[start:i], size, bold)
		}
		if rs[i] == ' ' {
			space = i
		}
		w += cw
	}
	return append(out, rs[start:])
}

// embedded is one font as a document uses it: a CID for each character
// set in it (CID 0 is .notdef), in order of first use.
type embedded struct {
	font  *Font
	res   string // resource name, F1...
	cid   map[rune]uint16
	runes []rune   // runes[c-1] is CID c's character
	gids  []uint16 // gids[c] is CID c's glyph in the font
}

func (e *embedded) code(r rune, g uint16) uint16 {
	c, ok := e.cid[r]
	if !ok {
		c = uint16(len(e.gids))
		e.cid[r] = c
		e.runes = append(e.runes, r)
		e.gids = append(e.gids, g)
	}
	return c
}

// Write renders lines onto as many A4 pages as they need. Lines too wide
// for the page wrap (only with fonts: Helvetica is not measured).
func (fs *Fonts) Write(w io.Writer, title string, lines []Line) error {
	var pages [][]byte
	var cur bytes.Buffer
	y := float64(pageH - margin)
	flush := func() {
		pages = append(pages, append([]byte(nil), cur.Bytes()...))
		cur.Reset()
		y = pageH - margin
	}
	var used []*embedded
	byFont := map[*Font]*embedded{}
	for _, l := range lines {
		size := l.Size
		if size == 0 {
			size = 10
		}
		parts := [][]rune{[]rune(l.Text)}
		if fs != nil {
			parts = fs.wrap(fs.clean(l.Text, l.Bold), size, l.Bold)
		}
		for i, part := range parts {
			step := size * 1.4
			if l.Gap && i == 0 {
				step += size
			}
			if y-step < margin {
				flush()
			}
			y -= step
			if fs == nil {
				font := "F1"
				if l.Bold {
					font = "F2"
				}
				fmt.Fprintf(&cur, "BT /%s %.1f Tf %d %.1f Td (%s) Tj ET\n", font, size, margin, y, escape(string(part)))
				continue
			}
			fmt.Fprintf(&cur, "BT %d %.1f Td", margin, y)
			// One run per stretch of characters from the same font.
			for at := 0; at < len(part); {
				f, _, trueFace := fs.pick(part[at], l.Bold)
				e := byFont[f]
				if e == nil {
					e = &embedded{font: f, res: fmt.Sprintf("F%d", len(used)+1), cid: map[rune]uint16{}, gids: []uint16{0}}
					byFont[f] = e
					used = append(used, e)
				}
				fmt.Fprintf(&cur, " /%s %.1f Tf", e.res, size)
				if !trueFace {
					// Fill and stroke the outline: a regular font made bold.
					fmt.Fprintf(&cur, " 2 Tr %.2f w", size/30)
				}
				cur.WriteString(" <")
				for ; at < len(part); at++ {
					if next, _, _ := fs.pick(part[at], l.Bold); next != f {
						break
					}
					fmt.Fprintf(&cur, "%04X", e.code(part[at], f.glyph(part[at])))
				}
				cur.WriteString("> Tj")
				if !trueFace {
					cur.WriteString(" 0 Tr")
				}
			}
			cur.WriteString(" ET\n")
		}
	}
	flush()

	var out bytes.Buffer
	offsets := []int{}
	// obj writes the next object; ref is the number it will get.
	obj := func(body string) {
		offsets = append(offsets, out.Len())
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	ref := func() int { return len(offsets) + 1 }
	stream := func(dict string, data []byte) {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		obj(fmt.Sprintf("<< /Length %d /Filter /FlateDecode%s >>\nstream\n%s\nendstream", z.Len(), dict, z.Bytes()))
	}
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	// Objects: 1 catalog, 2 pages, 3 info, 4 font resources, then the
	// fonts (two Helveticas, or six objects for each embedded font), then
	// page+content pairs.
	fontObjs := 2
	if fs != nil {
		fontObjs = 6 * len(used)
	}
	firstPage := 5 + fontObjs
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", firstPage+2*i)
	}
	var fontRefs []string
	if fs == nil {
		fontRefs = []string{"/F1 5 0 R", "/F2 6 0 R"}
	}
	for i, e := range used {
		fontRefs = append(fontRefs, fmt.Sprintf("/%s %d 0 R", e.res, 5+6*i))
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	obj(fmt.Sprintf("<< /Title %s /Producer (Tally) >>", textString(title)))
	obj(fmt.Sprintf("<< /Font << %s >> >>", strings.Join(fontRefs, " ")))
	if fs == nil {
		obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
		obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
	}
	for _, e := range used {
		writeFont(e, obj, ref, stream)
	}
	for i, content := range pages {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources 4 0 R /Contents %d 0 R >>",
			pageW, pageH, firstPage+2*i+1))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content))
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	_, err := w.Write(out.Bytes())
	return err
}

// writeFont writes a Type0 font and what it refers to: the CIDFontType2
// with its widths, the descriptor, the subset font file, the CID to glyph
// map and the ToUnicode CMap. The Type0 font is the first object written.
func writeFont(e *embedded, obj func(string), ref func() int, stream func(string, []byte)) {
	f := e.font
	file, glyphs := f.subset(uniq(e.gids))
	newGID := map[uint16]uint16{}
	for i, g := range glyphs {
		if _, ok := newGID[g]; !ok {
			newGID[g] = uint16(i)
		}
	}
	// A subset's name starts with six capitals that differ with its
	// glyphs (ISO 32000 9.6.4).
	h := fnv.New32a()
	for _, g := range e.gids {
		fmt.Fprintf(h, "%d,", g)
	}
	tag := make([]byte, 6)
	for i, v := 0, h.Sum32(); i < 6; i, v = i+1, v/26 {
		tag[i] = byte('A' + v%26)
	}
	name := string(tag) + "+" + f.name

	type0 := ref()
	cidFont, desc, fontFile, cidMap, toUni := type0+1, type0+2, type0+3, type0+4, type0+5
	obj(fmt.Sprintf("<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>",
		name, cidFont, toUni))
	var widths strings.Builder
	for _, g := range e.gids {
		fmt.Fprintf(&widths, " %d", f.scale(f.advance(g)))
	}
	obj(fmt.Sprintf("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "+
		"/FontDescriptor %d 0 R /W [0 [%s]] /CIDToGIDMap %d 0 R >>", name, desc, widths.String()[1:], cidMap))
	obj(fmt.Sprintf("<< /Type /FontDescriptor /FontName /%s /Flags 4 /FontBBox [%d %d %d %d] /ItalicAngle 0 /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>",
		name, f.scale(f.bbox[0]), f.scale(f.bbox[1]), f.scale(f.bbox[2]), f.scale(f.bbox[3]),
		f.scale(f.ascent), f.scale(f.descent), f.scale(f.capHeight), fontFile))
	stream(fmt.Sprintf(" /Length1 %d", len(file)), file)
	m := make([]byte, 2*len(e.gids))
	for c, g := range e.gids {
		m[2*c], m[2*c+1] = byte(newGID[g]>>8), byte(newGID[g])
	}
	stream("", m)
	stream("", toUnicode(e.runes))
}

func uniq(gs []uint16) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	for _, g := range gs {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// toUnicode is the CMap from CIDs 1... to their characters, which is
// what lets a reader search and copy the text.
func toUnicode(runes []rune) []byte {
	var b bytes.Buffer
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for start := 0; start < len(runes); start += 100 { // at most 100 a block
		end := min(start+100, len(runes))
		fmt.Fprintf(&b, "%d beginbfchar\n", end-start)
		for i := start; i < end; i++ {
			fmt.Fprintf(&b, "<%04X> <", i+1)
			for _, u := range utf16.Encode([]rune{runes[i]}) {
				fmt.Fprintf(&b, "%04X", u)
			}
			b.WriteString(">\n")
		}
		b.WriteString("endbfchar\n")
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return b.Bytes()
}

// textString is s as a PDF text string: literal when it is printable
// ASCII, else UTF-16BE with a byte order mark.
func textString(s string) string {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r >= 0x7f {
			ascii = false
		}
	}
	if ascii {
		return "(" + escape(s) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

// escape makes text safe inside a PDF string in WinAnsi encoding: Latin-1
// letters pass, others become '?'.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '(' || r == ')':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20:
		case r < 0x7f:
			b.WriteRune(r)
		case r >= 0xa0 && r <= 0xff:
			fmt.Fprintf(&b, "\\%03o", r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
