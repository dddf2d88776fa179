// Package pdfdoc writes simple text documents (statements, receipts) as
// PDF: A4 pages of Helvetica lines, no dependencies. It is enough for a
// printable, archivable statement; layout beyond lines and bold is out of
// scope.
package pdfdoc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Line is one line of text; Bold sets it in Helvetica-Bold; Gap adds
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
)

// Write renders lines onto as many A4 pages as they need.
func Write(w io.Writer, title string, lines []Line) error {
	var pages [][]byte
	var cur bytes.Buffer
	y := float64(pageH - margin)
	flush := func() {
		pages = append(pages, append([]byte(nil), cur.Bytes()...))
		cur.Reset()
		y = pageH - margin
	}
	for _, l := range lines {
		size := l.Size
		if size == 0 {
			size = 10
		}
		step := size * 1.4
		if l.Gap {
			step += size
		}
		if y-step < margin {
			flush()
		}
		y -= step
		font := "F1"
		if l.Bold {
			font = "F2"
		}
		fmt.Fprintf(&cur, "BT /%s %.1f Tf %d %.1f Td (%s) Tj ET\n", font, size, margin, y, escape(l.Text))
	}
	flush()

	var out bytes.Buffer
	offsets := []int{}
	obj := func(body string) {
		offsets = append(offsets, out.Len())
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	n := len(pages)
	// Objects: 1 catalog, 2 pages, 3 info, 4-5 fonts, then page+content pairs.
	kids := make([]string, n)
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 6+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	obj(fmt.Sprintf("<< /Title (%s) /Producer (Tally) >>", escape(title)))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
	for i, content := range pages {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents %d 0 R >>",
			pageW, pageH, 7+2*i))
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
