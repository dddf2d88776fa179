package slurm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScan is a streaming JSON reader over a byte buffer, written for
// DecodeJobs: slurmrestd's jobs answers are pretty-printed and mostly
// fields Tally does not read, so the time goes into skipping whitespace
// and unknown values, which a general decoder (the v2 prototype by
// reflection, ~20,000 records per CPU-second) spends most of its time on.
// This does it in a few tight loops, eight bytes at a time where it can,
// while checking the same grammar as jsontext with AllowInvalidUTF8:
// strict JSON, no duplicate names in any object, at most 10,000 levels of
// nesting, invalid UTF-8 in strings read as U+FFFD.
//
// Only the buffer's unread part and the token being read are held; a
// value whose raw text is wanted (raw) is kept until it ends.
type jsonScan struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte
	end  int   // buf[:end] holds data
	mark int   // a raw value starts here and must stay in buf, or -1
	off  int64 // input offset of buf[0], for errors
	rerr error // the reader's error once it returned one

	depth int    // open objects and arrays
	kinds []bool // skip's open containers: true for an object
	names nameSets
	tmp   []byte // unquoted strings

	// An error found inside a value read as a whole (a flex* field), kept
	// until the value's end: the oracle read such values whole before
	// looking inside, so a syntax error later in them comes first.
	laterErr error
	whole    int // > 0 while reading such a value

	// Per record (reset by DecodeJobs): the elements of every
	// flexStrings, and recently seen strings, so that the same user,
	// state or partition record after record is not allocated again.
	strs   []string
	intern [256]string
}

// string returns b as a string, from the intern cache when it was seen
// lately.
func (d *jsonScan) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 32 {
		return string(b)
	}
	p := &d.intern[nameHash(b)&255]
	if *p != string(b) {
		*p = string(b)
	}
	return *p
}

const maxJSONDepth = 10000 // jsontext's limit

func newJSONScan(r io.Reader, bufSize int) *jsonScan {
	return &jsonScan{r: r, buf: make([]byte, max(bufSize, 8)), mark: -1}
}

// fill reads more input, moving what must be kept to the start of the
// buffer (from pos, or mark if earlier). It returns how far kept bytes
// moved, for callers holding indices, and false at the end of input.
func (d *jsonScan) fill() (shift int, ok bool) {
	if d.rerr != nil {
		return 0, false
	}
	keep := d.pos
	if d.mark >= 0 && d.mark < keep {
		keep = d.mark
	}
	if keep > 0 {
		d.end = copy(d.buf, d.buf[keep:d.end])
		d.pos -= keep
		if d.mark >= 0 {
			d.mark -= keep
		}
		d.off += int64(keep)
	}
	if d.end == len(d.buf) {
		d.buf = append(d.buf, make([]byte, len(d.buf))...)
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.rerr = err
			return keep, n > 0
		}
		if n > 0 {
			return keep, true
		}
	}
	d.rerr = io.ErrNoProgress
	return keep, false
}

// eof is the error for input that ended (or failed) mid-value.
func (d *jsonScan) eof() error {
	if d.rerr == nil || d.rerr == io.EOF || errors.Is(d.rerr, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return d.rerr
}

func (d *jsonScan) syntax(at int, what string) error {
	c := d.buf[at]
	return fmt.Errorf("invalid character %s %s at offset %d", quoteChar(c), what, d.off+int64(at))
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c >= ' ' && c < 0x7f {
		return "'" + string(c) + "'"
	}
	return fmt.Sprintf("'\\x%02x'", c)
}

// kindName names a value by its first byte, for type errors.
func kindName(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func (d *jsonScan) typeErr(c byte, want string) error {
	return fmt.Errorf("unexpected JSON %s at offset %d: want %s", kindName(c), d.off+int64(d.pos), want)
}

// badName refuses the value at pos where an object's name should be,
// after reading what jsontext read before refusing it (so a truncation
// found meanwhile wins, as it did there): inside a value read whole,
// nothing; for a struct's member, the whole value; elsewhere, the value if
// it is a scalar (a token).
func (d *jsonScan) badName(typed bool) error {
	c := d.buf[d.pos]
	err := d.syntax(d.pos, "at start of object name (expecting '\"')")
	var serr error
	switch {
	case d.whole > 0:
	case typed:
		d.whole++
		serr = d.skip()
		d.whole--
	case c != '{' && c != '[':
		serr = d.skip()
	}
	if serr != nil {
		return serr
	}
	return err
}

// mismatch reports a value of the wrong kind (c starts it), after reading
// as much of it as jsontext would have before judging its kind: the whole
// value when whole, else its first token (the value if a scalar). A
// truncation or syntax error found meanwhile wins, as it did there.
func (d *jsonScan) mismatch(c byte, want string, whole bool) error {
	err := d.typeErr(c, want)
	if whole || c != '{' && c != '[' {
		d.whole++
		serr := d.skip()
		d.whole--
		if serr != nil {
			return serr
		}
	}
	return err
}

// isSpace: JSON whitespace.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// next skips whitespace and returns the next byte without consuming it.
func (d *jsonScan) next() (byte, error) {
	// Inlined: the byte is there, or one space before it (`"name": 1`).
	if p := d.pos; p+1 < d.end {
		if c := d.buf[p]; c > ' ' {
			return c, nil
		} else if c2 := d.buf[p+1]; c == ' ' && c2 > ' ' {
			d.pos = p + 1
			return c2, nil
		}
	}
	return d.nextSlow()
}

func (d *jsonScan) nextSlow() (byte, error) {
	for {
		buf, i := d.buf[:d.end], d.pos
		// Eight bytes at a time: indentation is most of a pretty-printed
		// answer.
		for i+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[i:]) ^ 0x2020202020202020
			if x == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(x) >> 3
			if c := buf[i]; !isSpace[c] {
				d.pos = i
				return c, nil
			}
			i++
		}
		for i < len(buf) {
			c := buf[i]
			if !isSpace[c] {
				d.pos = i
				return c, nil
			}
			i++
		}
		d.pos = i
		if _, ok := d.fill(); !ok {
			return 0, d.eof()
		}
	}
}

// expect consumes the byte c after whitespace, or fails naming what was
// expected.
func (d *jsonScan) expect(c byte, what string) error {
	got, err := d.next()
	if err != nil {
		return err
	}
	if got != c {
		return d.syntax(d.pos, what)
	}
	d.pos++
	return nil
}

// strSafe: bytes that stand for themselves inside a JSON string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at pos (which holds '"') and returns its unquoted
// bytes, valid until the next read. Invalid UTF-8 and lone surrogate
// escapes become U+FFFD, byte by byte, as both encoding/json and jsontext
// unquote them.
func (d *jsonScan) str() ([]byte, error) { return d.scanStr(true) }

// scanStr reads a string; unquoted says whether its value is wanted.
func (d *jsonScan) scanStr(unquoted bool) ([]byte, error) {
	i, simple := d.pos+1, true
	for {
		buf := d.buf[:d.end]
		// Eight bytes at a time, stopping at the first that is '"', '\\',
		// a control character or not ASCII (the lowest flagged byte is
		// exact; flags above it may not be).
		for i+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[i:])
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			q := x ^ (ones * '"')
			bs := x ^ (ones * '\\')
			m := ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs | x) & highs
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(buf) && strSafe[buf[i]] {
			i++
		}
		if i >= len(buf) {
			shift, ok := d.fill()
			if !ok {
				return nil, d.eof()
			}
			i -= shift
			continue
		}
		switch c := buf[i]; {
		case c == '"':
			start := d.pos
			d.pos = i + 1
			if simple || !unquoted {
				return buf[start+1 : i], nil
			}
			d.tmp = unquote(d.tmp[:0], buf[start+1:i])
			return d.tmp, nil
		case c == '\\':
			simple = false
			for i+6 > d.end && d.rerr == nil {
				shift, _ := d.fill()
				i -= shift
			}
			buf = d.buf[:d.end]
			if i+1 >= len(buf) {
				return nil, d.eof()
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(buf) {
						return nil, d.eof()
					}
					if !isHex(buf[i+k]) {
						return nil, fmt.Errorf("invalid escape sequence in string at offset %d", d.off+int64(i))
					}
				}
				i += 6
			default:
				return nil, fmt.Errorf("invalid escape sequence in string at offset %d", d.off+int64(i))
			}
		case c < ' ':
			return nil, d.syntax(i, "in string (expecting non-control character)")
		default: // non-ASCII: checked when unquoting
			simple = false
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the unescaped form of s (a checked string body).
func unquote(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = utf16.DecodeRune(r, hex4(s[i+2:]))
					}
					if r2 != utf8.RuneError {
						i += 6
					}
					r = r2
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

// num reads the number at pos and returns its text, valid until the next
// read. The byte after it is the caller's to check.
func (d *jsonScan) num() ([]byte, error) {
	i := d.pos
	// 0 start, 1 after '-', 2 integer digits, 3 a leading 0, 4 after '.',
	// 5 fraction digits, 6 after 'e', 7 after the exponent's sign, 8
	// exponent digits; 2, 3, 5 and 8 may end the number.
	state := 0
	for {
		buf := d.buf[:d.end]
		for ; i < len(buf); i++ {
			c := buf[i]
			digit := '0' <= c && c <= '9'
			switch state {
			case 0, 1:
				switch {
				case c == '-' && state == 0:
					state = 1
				case c == '0':
					state = 3
				case digit:
					state = 2
				default:
					return nil, d.syntax(i, "in number")
				}
			case 2, 3, 5:
				switch {
				case digit && state != 3:
				case c == '.' && state != 5:
					state = 4
				case c == 'e' || c == 'E':
					state = 6
				default:
					goto done
				}
			case 4:
				if !digit {
					return nil, d.syntax(i, "in number")
				}
				state = 5
			case 6:
				switch {
				case c == '+' || c == '-':
					state = 7
				case digit:
					state = 8
				default:
					return nil, d.syntax(i, "in number")
				}
			case 7:
				if !digit {
					return nil, d.syntax(i, "in number")
				}
				state = 8
			case 8:
				if !digit {
					goto done
				}
			}
		}
		shift, ok := d.fill()
		i -= shift
		if ok {
			continue
		}
		if state == 2 || state == 3 || state == 5 || state == 8 {
			break
		}
		return nil, d.eof()
	}
done:
	start := d.pos
	d.pos = i
	return d.buf[start:i], nil
}

// lit reads the literal true, false or null at pos.
func (d *jsonScan) lit(word string) error {
	for d.end-d.pos < len(word) {
		if _, ok := d.fill(); !ok {
			break
		}
	}
	have := d.buf[d.pos:d.end]
	for k := 0; k < len(word); k++ {
		if k >= len(have) {
			return d.eof()
		}
		if have[k] != word[k] {
			return d.syntax(d.pos+k, "in literal "+word)
		}
	}
	d.pos += len(word)
	return nil
}

// open consumes '{' or '[' (at pos) and counts the level.
func (d *jsonScan) open(c byte) error {
	d.pos++
	d.depth++
	if d.depth > maxJSONDepth {
		return fmt.Errorf("exceeded max depth of %d at offset %d", maxJSONDepth, d.off+int64(d.pos))
	}
	if c == '{' {
		d.names.push()
	}
	return nil
}

// object reads an object member by member: f gets each name (valid only
// until f reads on) and must read the value. A null reads as no members;
// any other value is an error.
func (d *jsonScan) object(want string, f func(name []byte) error) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	if c == 'n' {
		return d.lit("null")
	}
	if c != '{' {
		return d.mismatch(c, want, false)
	}
	return d.members(f, true)
}

// members reads the object at pos (which holds '{'). For a typed object
// (a struct to the oracle) a name that is not a string is read as a value
// before it is refused, as the oracle did.
func (d *jsonScan) members(f func(name []byte) error, typed bool) error {
	if err := d.open('{'); err != nil {
		return err
	}
	c, err := d.next()
	if err != nil {
		return err
	}
	if c != '}' {
		for {
			if c != '"' {
				return d.badName(typed)
			}
			name, err := d.str()
			if err != nil {
				return err
			}
			// The name's copy in names, as reading on may move the buffer.
			if name, err = d.names.insert(name); err != nil {
				return fmt.Errorf("%w at offset %d", err, d.off+int64(d.pos))
			}
			if d.pos < d.end && d.buf[d.pos] == ':' {
				d.pos++
			} else if err := d.expect(':', "after object name (expecting ':')"); err != nil {
				return err
			}
			if err := f(name); err != nil {
				return err
			}
			if c, err = d.next(); err != nil {
				return err
			}
			if c == '}' {
				break
			}
			if c != ',' {
				return d.syntax(d.pos, "after object value (expecting ',' or '}')")
			}
			d.pos++
			if c, err = d.next(); err != nil {
				return err
			}
		}
	}
	d.pos++
	d.depth--
	d.names.pop()
	return nil
}

// array reads an array element by element; f must read each. A null
// reads as no elements; any other value is an error.
func (d *jsonScan) array(want string, f func() error) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	if c == 'n' {
		return d.lit("null")
	}
	if c != '[' {
		return d.mismatch(c, want, false)
	}
	return d.elements(f)
}

// elements reads the array at pos (which holds '[').
func (d *jsonScan) elements(f func() error) error {
	if err := d.open('['); err != nil {
		return err
	}
	c, err := d.next()
	if err != nil {
		return err
	}
	if c != ']' {
		for {
			if err := f(); err != nil {
				return err
			}
			if c, err = d.next(); err != nil {
				return err
			}
			if c == ']' {
				break
			}
			if c != ',' {
				return d.syntax(d.pos, "after array element (expecting ',' or ']')")
			}
			d.pos++
		}
	}
	d.pos++
	d.depth--
	return nil
}

// skip reads and checks one value of any kind. Most of an answer is
// skipped, so this is one loop, not a call per token: kinds stacks
// whether each container it opened is an object.
func (d *jsonScan) skip() error {
	base := len(d.kinds)
	for {
		c, err := d.next()
		if err != nil {
			return err
		}
		switch c {
		case '{', '[':
			if err := d.open(c); err != nil {
				return err
			}
			d.kinds = append(d.kinds, c == '{')
			if c, err = d.next(); err != nil {
				return err
			}
			if c == '}' || c == ']' {
				if (c == '}') != d.kinds[len(d.kinds)-1] {
					return d.syntax(d.pos, "at start of value")
				}
				d.close()
				break
			}
			if d.kinds[len(d.kinds)-1] {
				if err := d.name(c); err != nil {
					return err
				}
			}
			continue // the first member's or element's value
		case '"':
			if _, err := d.scanStr(false); err != nil {
				return err
			}
		case 't':
			err = d.lit("true")
		case 'f':
			err = d.lit("false")
		case 'n':
			err = d.lit("null")
		default:
			_, err = d.num()
		}
		if err != nil {
			return err
		}
		// After a value: close what ends here, then on to the next
		// member or element.
		for {
			if len(d.kinds) == base {
				return nil
			}
			if c, err = d.next(); err != nil {
				return err
			}
			obj := d.kinds[len(d.kinds)-1]
			if c == ',' {
				d.pos++
				if obj {
					if c, err = d.next(); err != nil {
						return err
					}
					if err := d.name(c); err != nil {
						return err
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				d.close()
				continue
			}
			if obj {
				return d.syntax(d.pos, "after object value (expecting ',' or '}')")
			}
			return d.syntax(d.pos, "after array element (expecting ',' or ']')")
		}
	}
}

// close consumes the '}' or ']' (at pos) that ends skip's innermost
// container.
func (d *jsonScan) close() {
	d.pos++
	d.depth--
	if d.kinds[len(d.kinds)-1] {
		d.names.pop()
	}
	d.kinds = d.kinds[:len(d.kinds)-1]
}

// name reads an object member's name (c, at pos, must open it), checks it
// is new in its object, and consumes the ':' after it.
func (d *jsonScan) name(c byte) error {
	if c != '"' {
		return d.badName(false)
	}
	name, err := d.str()
	if err != nil {
		return err
	}
	if _, err := d.names.insert(name); err != nil {
		return fmt.Errorf("%w at offset %d", err, d.off+int64(d.pos))
	}
	// Pretty-printed: `"name": value`.
	if d.pos < d.end && d.buf[d.pos] == ':' {
		d.pos++
		return nil
	}
	return d.expect(':', "after object name (expecting ':')")
}

// raw reads one value and returns its text as it was written, valid
// until the next read.
func (d *jsonScan) raw() ([]byte, error) {
	if _, err := d.next(); err != nil {
		return nil, err
	}
	outer := d.mark >= 0 // inside another raw value, whose mark keeps ours
	if !outer {
		d.mark = d.pos
	}
	rel := d.pos - d.mark
	err := d.skip()
	out := d.buf[d.mark+rel : d.pos]
	if !outer {
		d.mark = -1
	}
	return out, err
}

// nameSets holds the names of every open object, to refuse a duplicate
// as jsontext does. Names are compared by a cheap hash, and by their bytes
// when hashes agree; a 256-bit filter per object skips most searches.
type nameSets struct {
	hashes []uint64
	ends   []int // end of each name in data
	data   []byte
	starts []int // first name of each open object
	bloom  [][4]uint64
}

func (s *nameSets) push() {
	s.starts = append(s.starts, len(s.hashes))
	s.bloom = append(s.bloom, [4]uint64{})
}

func (s *nameSets) pop() {
	n := len(s.starts) - 1
	first := s.starts[n]
	s.starts, s.bloom = s.starts[:n], s.bloom[:n]
	if first == 0 {
		s.hashes, s.ends, s.data = s.hashes[:0], s.ends[:0], s.data[:0]
		return
	}
	s.hashes, s.ends = s.hashes[:first], s.ends[:first]
	s.data = s.data[:s.ends[first-1]]
}

var errDuplicateName = errors.New("duplicate object member name")

// insert adds name to the innermost object's names and returns the copy
// kept, valid until the next insert.
func (s *nameSets) insert(name []byte) ([]byte, error) {
	h := nameHash(name)
	b := &s.bloom[len(s.bloom)-1]
	w, bit := h>>62, uint64(1)<<(h>>56&63)
	if b[w]&bit != 0 {
		first := s.starts[len(s.starts)-1]
		for i := first; i < len(s.hashes); i++ {
			if s.hashes[i] != h {
				continue
			}
			from := 0
			if i > 0 {
				from = s.ends[i-1]
			}
			if bytes.Equal(s.data[from:s.ends[i]], name) {
				return nil, fmt.Errorf("%w %q", errDuplicateName, name)
			}
		}
	}
	b[w] |= bit
	s.hashes = append(s.hashes, h)
	s.data = append(s.data, name...)
	s.ends = append(s.ends, len(s.data))
	return s.data[len(s.data)-len(name):], nil
}

func nameHash(b []byte) uint64 {
	h := uint64(len(b)) * 0x9E3779B97F4A7C15
	if len(b) >= 8 {
		h ^= binary.LittleEndian.Uint64(b)
		h *= 0xff51afd7ed558ccd
		h ^= binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		var x uint64
		for _, c := range b {
			x = x<<8 | uint64(c)
		}
		h ^= x
	}
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>29
}
