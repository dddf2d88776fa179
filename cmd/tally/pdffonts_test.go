package main

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// A PDF font that cannot be read is a warning, not a refusal to start;
// with no regular font at all PDFs fall back to Helvetica.
func TestPDFFontsWarnAndFallBack(t *testing.T) {
	if _, err := os.Stat(pdfdoc.DejaVuSans); err != nil {
		testenv.Missing(t, "DejaVu Sans missing (Debian: fonts-dejavu-core)")
	}
	for _, tc := range []struct {
		name, regular, bold string
		helvetica           bool
		warn                string
	}{
		{"none readable", "/nonexistent/a.ttf", "", true, "no PDF font could be loaded"},
		{"bold missing", pdfdoc.DejaVuSans, "/nonexistent/b.ttf", false, "PDF font not loaded"},
		{"all there", pdfdoc.DejaVuSans, pdfdoc.DejaVuSans, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			c := Config{PDFFonts: tc.regular, PDFBoldFonts: tc.bold}
			fonts := c.pdfFonts(slog.New(slog.NewTextHandler(&logs, nil)))
			if (fonts == nil) != tc.helvetica {
				t.Errorf("fonts %v, want Helvetica: %v", fonts, tc.helvetica)
			}
			if tc.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("logged %q, want %q", logs.String(), tc.warn)
			}
		})
	}
}
