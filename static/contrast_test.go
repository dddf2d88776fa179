package static

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The colour pairs the stylesheet puts text on meet WCAG 2.1 AA: a
// contrast ratio of at least 4.5:1 for normal text.
func TestColourContrastAA(t *testing.T) {
	_, vars := stylesheet(t)
	pairs := []struct {
		fg, bg string
		alpha  float64 // the foreground's opacity over the background
	}{
		{"ink", "bg", 1}, {"ink", "card", 1}, {"muted", "card", 1}, {"muted", "bg", 1},
		{"brand", "card", 1}, {"brand", "bg", 1}, {"brand-ink", "brand", 1},
		{"brand-ink", "brand", .85}, // navigation links
		{"ok", "card", 1}, {"warn", "card", 1}, {"bad", "card", 1},
	}
	for _, p := range pairs {
		fg, ok1 := vars[p.fg]
		bg, ok2 := vars[p.bg]
		if !ok1 || !ok2 {
			t.Fatalf("colour --%s or --%s missing from the stylesheet", p.fg, p.bg)
		}
		for i := range fg {
			fg[i] = p.alpha*fg[i] + (1-p.alpha)*bg[i]
		}
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("--%s on --%s (opacity %.2f): contrast %.2f, AA needs 4.5", p.fg, p.bg, p.alpha, r)
		}
	}
}

// Form controls' borders meet WCAG 2.1's 3:1 for user interface
// components (1.4.11) against the white of the control and card and the
// grey of the page: every rule styling input, select or textarea draws
// its border in a colour that does.
func TestControlBorderContrast(t *testing.T) {
	css, vars := stylesheet(t)
	rules := regexp.MustCompile(`([^{}]+)\{([^}]*)\}`).FindAllStringSubmatch(css, -1)
	control := regexp.MustCompile(`(^|[\s,])(input|select|textarea)\b`)
	border := regexp.MustCompile(`border(-color)?:[^;]*var\(--([a-z-]+)\)`)
	checked := 0
	for _, r := range rules {
		if !control.MatchString(r[1]) {
			continue
		}
		for _, m := range border.FindAllStringSubmatch(r[2], -1) {
			fg, ok := vars[m[2]]
			if !ok {
				t.Fatalf("colour --%s missing from the stylesheet", m[2])
			}
			for _, bg := range []string{"card", "bg"} {
				if c := contrast(fg, vars[bg]); c < 3 {
					t.Errorf("%s: border --%s on --%s: contrast %.2f, controls need 3", strings.TrimSpace(r[1]), m[2], bg, c)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no form control border found in the stylesheet")
	}
}

// stylesheet is tally.css without comments, and its colour variables.
func stylesheet(t *testing.T) (string, map[string][3]float64) {
	t.Helper()
	b, err := os.ReadFile("css/tally.css")
	if err != nil {
		t.Fatal(err)
	}
	css := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(b), "")
	vars := map[string][3]float64{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b`).FindAllStringSubmatch(css, -1) {
		vars[m[1]] = hexRGB(m[2])
	}
	return css, vars
}

func hexRGB(h string) [3]float64 {
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		c[i] = float64(v) / 255
	}
	return c
}

// luminance is WCAG's relative luminance of an sRGB colour.
func luminance(c [3]float64) float64 {
	lin := func(v float64) float64 {
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c[0]) + 0.7152*lin(c[1]) + 0.0722*lin(c[2])
}

func contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
