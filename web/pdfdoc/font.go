package pdfdoc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"
)

// Font is a TrueType font (glyf outlines) read once and shared by every
// document: its character map, advances and the tables a subset is cut
// from. It is never changed after ParseFont, so concurrent writers may
// share it.
type Font struct {
	name        string // PostScript name, for /BaseFont
	tables      map[string][]byte
	cmap        map[rune]uint16
	unitsPerEm  int
	numGlyphs   int
	numHMetrics int
	loca        []uint32 // numGlyphs+1 offsets into glyf
	ascent      int      // hhea, font units
	descent     int
	capHeight   int
	bbox        [4]int // head xMin yMin xMax yMax
}

// LoadFont reads a TrueType font file (.ttf, or the first font of a .ttc).
func LoadFont(path string) (*Font, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseFont(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.name == "" {
		f.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	f.name = psName(f.name)
	return f, nil
}

// ParseFont reads a TrueType font from memory. Fonts with CFF outlines
// ("OTTO", such as Noto CJK's .ttc) are refused: a CIDFontType2 embeds
// glyf outlines only.
func ParseFont(data []byte) (*Font, error) {
	f, err := parseTables(data)
	if err != nil {
		return nil, err
	}
	if f.tables["cmap"] == nil {
		return nil, errors.New("no cmap table")
	}
	if f.cmap, err = parseCmap(f.tables["cmap"], f.numGlyphs); err != nil {
		return nil, err
	}
	f.name = fontName(f.tables["name"])
	return f, nil
}

// parseTables reads the tables and the metrics; the character map is
// ParseFont's (a subset has none).
func parseTables(data []byte) (*Font, error) {
	if len(data) < 12 {
		return nil, errors.New("not a font: too short")
	}
	start := 0
	if string(data[:4]) == "ttcf" { // a collection: its first font
		if len(data) < 16 {
			return nil, errors.New("truncated font collection")
		}
		start = int(binary.BigEndian.Uint32(data[12:]))
	}
	if start+12 > len(data) {
		return nil, errors.New("truncated font")
	}
	switch v := string(data[start : start+4]); v {
	case "\x00\x01\x00\x00", "true":
	case "OTTO":
		return nil, errors.New("CFF (PostScript-outline) fonts cannot be embedded; use a TrueType (.ttf) font")
	default:
		return nil, fmt.Errorf("not a TrueType font (starts %q)", v)
	}
	n := int(binary.BigEndian.Uint16(data[start+4:]))
	f := &Font{tables: map[string][]byte{}}
	for i := 0; i < n; i++ {
		rec := start + 12 + 16*i
		if rec+16 > len(data) {
			return nil, errors.New("truncated table directory")
		}
		tag := string(data[rec : rec+4])
		off := int(binary.BigEndian.Uint32(data[rec+8:]))
		ln := int(binary.BigEndian.Uint32(data[rec+12:]))
		if off < 0 || ln < 0 || off+ln > len(data) || off+ln < off {
			return nil, fmt.Errorf("table %q lies outside the file", tag)
		}
		f.tables[tag] = data[off : off+ln]
	}
	for _, t := range []string{"head", "hhea", "maxp", "hmtx", "loca", "glyf"} {
		if f.tables[t] == nil {
			return nil, fmt.Errorf("no %s table (not a TrueType-outline font?)", t)
		}
	}
	head, hhea, maxp := f.tables["head"], f.tables["hhea"], f.tables["maxp"]
	if len(head) < 54 || len(hhea) < 36 || len(maxp) < 6 {
		return nil, errors.New("truncated head, hhea or maxp table")
	}
	f.unitsPerEm = int(binary.BigEndian.Uint16(head[18:]))
	if f.unitsPerEm == 0 {
		return nil, errors.New("unitsPerEm is 0")
	}
	for i := range f.bbox {
		f.bbox[i] = int(int16(binary.BigEndian.Uint16(head[36+2*i:])))
	}
	f.ascent = int(int16(binary.BigEndian.Uint16(hhea[4:])))
	f.descent = int(int16(binary.BigEndian.Uint16(hhea[6:])))
	f.capHeight = f.ascent
	if os2 := f.tables["OS/2"]; len(os2) >= 90 && binary.BigEndian.Uint16(os2) >= 2 {
		f.capHeight = int(int16(binary.BigEndian.Uint16(os2[88:])))
	}
	f.numHMetrics = int(binary.BigEndian.Uint16(hhea[34:]))
	f.numGlyphs = int(binary.BigEndian.Uint16(maxp[4:]))
	if f.numHMetrics == 0 || f.numHMetrics > f.numGlyphs || len(f.tables["hmtx"]) < 4*f.numHMetrics+2*(f.numGlyphs-f.numHMetrics) {
		return nil, errors.New("hmtx does not cover the glyphs")
	}
	loca := f.tables["loca"]
	f.loca = make([]uint32, f.numGlyphs+1)
	long := binary.BigEndian.Uint16(head[50:]) == 1
	for i := range f.loca {
		switch {
		case long && 4*i+4 <= len(loca):
			f.loca[i] = binary.BigEndian.Uint32(loca[4*i:])
		case !long && 2*i+2 <= len(loca):
			f.loca[i] = 2 * uint32(binary.BigEndian.Uint16(loca[2*i:]))
		default:
			return nil, errors.New("loca is shorter than the glyph count")
		}
		if f.loca[i] > uint32(len(f.tables["glyf"])) || (i > 0 && f.loca[i] < f.loca[i-1]) {
			return nil, fmt.Errorf("loca entry %d is out of order or outside glyf", i)
		}
	}
	return f, nil
}

// parseCmap reads the Unicode subtable (format 12 preferred, it reaches
// past the BMP; else format 4) into a map.
func parseCmap(t []byte, numGlyphs int) (map[rune]uint16, error) {
	if len(t) < 4 {
		return nil, errors.New("truncated cmap")
	}
	best, bestRank := -1, 0
	for i := 0; i < int(binary.BigEndian.Uint16(t[2:])); i++ {
		rec := 4 + 8*i
		if rec+8 > len(t) {
			break
		}
		pid, eid := binary.BigEndian.Uint16(t[rec:]), binary.BigEndian.Uint16(t[rec+2:])
		off := int(binary.BigEndian.Uint32(t[rec+4:]))
		if off+2 > len(t) {
			continue
		}
		format := binary.BigEndian.Uint16(t[off:])
		rank := 0
		switch {
		case format == 12 && (pid == 3 && eid == 10 || pid == 0):
			rank = 2
		case format == 4 && (pid == 3 && eid == 1 || pid == 0):
			rank = 1
		}
		if rank > bestRank {
			best, bestRank = off, rank
		}
	}
	if best < 0 {
		return nil, errors.New("no Unicode character map (cmap format 4 or 12)")
	}
	m := map[rune]uint16{}
	add := func(r rune, g int) {
		if g > 0 && g < numGlyphs {
			if _, ok := m[r]; !ok {
				m[r] = uint16(g)
			}
		}
	}
	s := t[best:]
	if bestRank == 2 {
		if len(s) < 16 {
			return nil, errors.New("truncated cmap format 12")
		}
		n := int(binary.BigEndian.Uint32(s[12:]))
		if 16+12*n > len(s) {
			return nil, errors.New("truncated cmap format 12")
		}
		for i := 0; i < n; i++ {
			g := s[16+12*i:]
			lo, hi, gid := binary.BigEndian.Uint32(g), binary.BigEndian.Uint32(g[4:]), binary.BigEndian.Uint32(g[8:])
			if hi > 0x10ffff || hi < lo {
				continue
			}
			for c := lo; c <= hi; c++ {
				add(rune(c), int(gid+c-lo))
			}
		}
		return m, nil
	}
	if len(s) < 14 {
		return nil, errors.New("truncated cmap format 4")
	}
	segs := int(binary.BigEndian.Uint16(s[6:])) / 2
	ends, starts, deltas, ranges := 14, 16+2*segs, 16+4*segs, 16+6*segs
	if ranges+2*segs > len(s) {
		return nil, errors.New("truncated cmap format 4")
	}
	for i := 0; i < segs; i++ {
		end := int(binary.BigEndian.Uint16(s[ends+2*i:]))
		st := int(binary.BigEndian.Uint16(s[starts+2*i:]))
		delta := int(binary.BigEndian.Uint16(s[deltas+2*i:]))
		ro := int(binary.BigEndian.Uint16(s[ranges+2*i:]))
		for c := st; c <= end && c != 0xffff; c++ {
			if ro == 0 {
				add(rune(c), (c+delta)&0xffff)
				continue
			}
			at := ranges + 2*i + ro + 2*(c-st)
			if at+2 > len(s) {
				break
			}
			if g := int(binary.BigEndian.Uint16(s[at:])); g != 0 {
				add(rune(c), (g+delta)&0xffff)
			}
		}
	}
	return m, nil
}

// fontName is the PostScript name (name ID 6), "" when the font has none.
func fontName(t []byte) string {
	if len(t) < 6 {
		return ""
	}
	n, strs := int(binary.BigEndian.Uint16(t[2:])), int(binary.BigEndian.Uint16(t[4:]))
	for i := 0; i < n; i++ {
		rec := 6 + 12*i
		if rec+12 > len(t) {
			break
		}
		pid, nameID := binary.BigEndian.Uint16(t[rec:]), binary.BigEndian.Uint16(t[rec+6:])
		ln, off := int(binary.BigEndian.Uint16(t[rec+8:])), int(binary.BigEndian.Uint16(t[rec+10:]))
		if nameID != 6 || strs+off+ln > len(t) {
			continue
		}
		b := t[strs+off : strs+off+ln]
		switch pid {
		case 1:
			return string(b)
		case 0, 3:
			u := make([]uint16, len(b)/2)
			for j := range u {
				u[j] = binary.BigEndian.Uint16(b[2*j:])
			}
			return string(utf16.Decode(u))
		}
	}
	return ""
}

// psName keeps a name to the characters a PDF name may hold unescaped.
func psName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f && !strings.ContainsRune("()<>[]{}/%#", r) {
			return r
		}
		return -1
	}, s)
	if s == "" {
		return "Font"
	}
	return s
}

// glyph is r's glyph, 0 when the font lacks it.
func (f *Font) glyph(r rune) uint16 { return f.cmap[r] }

// advance is glyph g's advance width in font units.
func (f *Font) advance(g uint16) int {
	h := f.tables["hmtx"]
	if int(g) >= f.numHMetrics {
		g = uint16(f.numHMetrics - 1)
	}
	return int(binary.BigEndian.Uint16(h[4*int(g):]))
}

// lsb is glyph g's left side bearing in font units.
func (f *Font) lsb(g uint16) uint16 {
	h := f.tables["hmtx"]
	if int(g) < f.numHMetrics {
		return binary.BigEndian.Uint16(h[4*int(g)+2:])
	}
	return binary.BigEndian.Uint16(h[4*f.numHMetrics+2*(int(g)-f.numHMetrics):])
}

// scale turns font units into thousandths of the text size, PDF's unit
// for widths and font metrics.
func (f *Font) scale(v int) int { return v * 1000 / f.unitsPerEm }

// glyphData is glyph g's outline as stored in glyf (empty for a blank).
func (f *Font) glyphData(g uint16) []byte {
	return f.tables["glyf"][f.loca[g]:f.loca[g+1]]
}

// Flags of a composite glyph's component (the OpenType glyf table).
const (
	argsAreWords   = 0x0001
	haveScale      = 0x0008
	moreComponents = 0x0020
	haveXYScale    = 0x0040
	haveTwoByTwo   = 0x0080
)

// components calls fn with the offset of each component's glyph index in
// a composite glyph's data; a simple glyph has none.
func components(data []byte, fn func(at int)) {
	if len(data) < 10 || int16(binary.BigEndian.Uint16(data)) >= 0 {
		return
	}
	for at := 10; at+4 <= len(data); {
		flags := binary.BigEndian.Uint16(data[at:])
		fn(at + 2)
		at += 4
		if flags&argsAreWords != 0 {
			at += 4
		} else {
			at += 2
		}
		switch {
		case flags&haveScale != 0:
			at += 2
		case flags&haveXYScale != 0:
			at += 4
		case flags&haveTwoByTwo != 0:
			at += 8
		}
		if flags&moreComponents == 0 {
			return
		}
	}
}

// subset is a TrueType font holding only the glyphs listed (glyphs[0]
// should be .notdef), renumbered in list order: new glyph i is old glyph
// glyphs[i]. Composite glyphs' components are added at the end, so the
// list returned may be longer than the one given; callers use its
// numbering.
func (f *Font) subset(glyphs []uint16) ([]byte, []uint16) {
	index := map[uint16]uint16{}
	list := []uint16{}
	addGlyph := func(g uint16) uint16 {
		if n, ok := index[g]; ok {
			return n
		}
		index[g] = uint16(len(list))
		list = append(list, g)
		return index[g]
	}
	for _, g := range glyphs {
		addGlyph(g)
	}
	// Components reach further glyphs; the loop runs until the list
	// stops growing (components may themselves be composite).
	for i := 0; i < len(list); i++ {
		data := f.glyphData(list[i])
		components(data, func(at int) {
			if c := binary.BigEndian.Uint16(data[at:]); int(c) < f.numGlyphs {
				addGlyph(c)
			}
		})
	}
	var glyf []byte
	loca := make([]byte, 4*(len(list)+1))
	hmtx := make([]byte, 4*len(list))
	for i, g := range list {
		binary.BigEndian.PutUint32(loca[4*i:], uint32(len(glyf)))
		binary.BigEndian.PutUint16(hmtx[4*i:], uint16(f.advance(g)))
		binary.BigEndian.PutUint16(hmtx[4*i+2:], f.lsb(g))
		data := append([]byte(nil), f.glyphData(g)...)
		components(data, func(at int) {
			if c := binary.BigEndian.Uint16(data[at:]); int(c) < f.numGlyphs {
				binary.BigEndian.PutUint16(data[at:], index[c])
			}
		})
		glyf = append(glyf, data...)
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
	}
	binary.BigEndian.PutUint32(loca[4*len(list):], uint32(len(glyf)))

	head := append([]byte(nil), f.tables["head"]...)
	binary.BigEndian.PutUint32(head[8:], 0)  // checkSumAdjustment, set below
	binary.BigEndian.PutUint16(head[50:], 1) // long loca offsets
	hhea := append([]byte(nil), f.tables["hhea"]...)
	binary.BigEndian.PutUint16(hhea[34:], uint16(len(list)))
	maxp := append([]byte(nil), f.tables["maxp"]...)
	binary.BigEndian.PutUint16(maxp[4:], uint16(len(list)))
	tables := map[string][]byte{"head": head, "hhea": hhea, "maxp": maxp, "hmtx": hmtx, "loca": loca, "glyf": glyf}
	// Hinting programs: glyphs' instructions call into them.
	for _, t := range []string{"cvt ", "fpgm", "prep"} {
		if b := f.tables[t]; b != nil {
			tables[t] = b
		}
	}
	out := writeSFNT(tables)
	// head.checkSumAdjustment makes the whole file sum to 0xB1B0AFBA.
	at := headOffset(out)
	binary.BigEndian.PutUint32(out[at+8:], 0xB1B0AFBA-checksum(out))
	return out, list
}

// writeSFNT lays tables out as a TrueType file, tags in order.
func writeSFNT(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	n := len(tags)
	pow := 1
	for pow*2 <= n {
		pow *= 2
	}
	out := make([]byte, 12+16*n)
	binary.BigEndian.PutUint32(out, 0x00010000)
	binary.BigEndian.PutUint16(out[4:], uint16(n))
	binary.BigEndian.PutUint16(out[6:], uint16(16*pow))
	log2 := 0
	for p := pow; p > 1; p /= 2 {
		log2++
	}
	binary.BigEndian.PutUint16(out[8:], uint16(log2))
	binary.BigEndian.PutUint16(out[10:], uint16(16*n-16*pow))
	for i, t := range tags {
		b := tables[t]
		rec := out[12+16*i:]
		copy(rec, t)
		binary.BigEndian.PutUint32(rec[4:], checksum(b))
		binary.BigEndian.PutUint32(rec[8:], uint32(len(out)))
		binary.BigEndian.PutUint32(rec[12:], uint32(len(b)))
		out = append(out, b...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

// headOffset is where the head table starts in a file writeSFNT made.
func headOffset(font []byte) int {
	n := int(binary.BigEndian.Uint16(font[4:]))
	for i := 0; i < n; i++ {
		rec := font[12+16*i:]
		if string(rec[:4]) == "head" {
			return int(binary.BigEndian.Uint32(rec[8:]))
		}
	}
	return 0
}

// checksum is the TrueType table checksum: the sum of big-endian uint32s,
// the last one padded with zeros.
func checksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += binary.BigEndian.Uint32(w[:])
	}
	return sum
}
