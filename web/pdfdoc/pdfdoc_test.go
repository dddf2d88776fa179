package pdfdoc

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The xref table points at every object, text is escaped, and long
// documents flow onto more pages.
func TestWriteIsWellFormed(t *testing.T) {
	var lines []Line
	lines = append(lines, Line{Text: "Statement 2026-10-0001 (chem)", Bold: true, Size: 16})
	for i := 0; i < 120; i++ {
		lines = append(lines, Line{Text: fmt.Sprintf("line %d: a (paren) and a \\ backslash, é, 数据", i)})
	}
	var buf bytes.Buffer
	if err := Write(&buf, "Tally statement", lines); err != nil {
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
	if !strings.Contains(pdf, `a \(paren\) and a \\ backslash, \351, ??`) {
		t.Error("text not escaped as expected")
	}
}
