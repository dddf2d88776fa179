package billing

import (
	"math/big"
	"strings"
	"testing"
	"time"
)

// FuzzParseSizesAndDurations: whatever is typed, the estimate's parsers
// neither panic nor wrap. An accepted size or time is the value the text
// means, computed here again in unbounded integers, and within the
// plausibility limits; a well-formed one within them is accepted.
func FuzzParseSizesAndDurations(f *testing.F) {
	for _, s := range []string{"64G", "512M", "1T", "64GB", "16384T", "16385T", "8796093022208T", "9223372036854775807",
		"12:00:00", "1-00:00:00", "90", "2-12", "05:30", "0-5", "1825-00:00:00", "106751991167300-00:00:00",
		"1-9223372036854775807:00:00", "a100:2,v100:1", "a100:9223372036854775807,a100:1", " 7 ", "+5", "-5", "1K", "", "ı", "\u00a064G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mem, err := ParseMemory(s)
		want, wellFormed := memoryMeant(s)
		switch {
		case err == nil && (mem < 0 || mem > MaxPlausibleMemMiB):
			t.Fatalf("memory %q: %d MiB, outside 0..%d", s, mem, int64(MaxPlausibleMemMiB))
		case err == nil && (!wellFormed || want.Cmp(big.NewInt(mem)) != 0):
			t.Fatalf("memory %q: %d MiB, but it means %v (well formed: %v)", s, mem, want, wellFormed)
		case err != nil && wellFormed && want.Cmp(big.NewInt(MaxPlausibleMemMiB)) <= 0:
			t.Fatalf("memory %q (%v MiB) refused: %v", s, want, err)
		}

		for _, p := range []struct {
			name  string
			parse func(string) (time.Duration, error)
			max   int64
		}{{"time", ParseWalltime, MaxPlausibleElapsed}, {"CPU time", ParseCPUTime, maxDurationSeconds}} {
			d, err := p.parse(s)
			want, wellFormed := secondsMeant(s)
			max := big.NewInt(p.max)
			switch {
			case err == nil && (d < 0 || d%time.Second != 0 || int64(d/time.Second) > p.max):
				t.Fatalf("%s %q: %v, outside 0..%d s", p.name, s, d, p.max)
			case err == nil && (!wellFormed || want.Cmp(big.NewInt(int64(d/time.Second))) != 0):
				t.Fatalf("%s %q: %v, but it means %v s (well formed: %v)", p.name, s, d, want, wellFormed)
			case err != nil && wellFormed && want.Cmp(max) <= 0:
				t.Fatalf("%s %q (%v s) refused: %v", p.name, s, want, err)
			}
		}

		gpus, err := ParseGPUs(s)
		if err == nil {
			var total int64
			for _, n := range gpus {
				if n < 0 || n > MaxPlausibleGPUs-total {
					t.Fatalf("GPUs %q: %v, past %d in all or negative", s, gpus, MaxPlausibleGPUs)
				}
				total += n
			}
		}
	})
}

// memoryMeant is the MiB a size means (digits, then M, G or T, optionally
// followed by B; MiB without a unit; nothing is none), and whether it is
// one.
func memoryMeant(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return new(big.Int), true
	}
	mult := int64(1)
	if u := strings.ToUpper(s); len(u) >= 2 && u[len(u)-1] == 'B' && strings.IndexByte("MGT", u[len(u)-2]) >= 0 {
		s = s[:len(s)-1]
	}
	if s != "" {
		switch s[len(s)-1] {
		case 'm', 'M':
			s = s[:len(s)-1]
		case 'g', 'G':
			mult, s = 1024, s[:len(s)-1]
		case 't', 'T':
			mult, s = 1024*1024, s[:len(s)-1]
		}
	}
	n, ok := digits(s)
	if !ok {
		return nil, false
	}
	return n.Mul(n, big.NewInt(mult)), true
}

// secondsMeant is the seconds a Slurm time means: minutes, MM:SS,
// HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, and whether it is one.
func secondsMeant(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	total := new(big.Int)
	d, rest, hasDays := strings.Cut(s, "-")
	if hasDays {
		n, ok := digits(d)
		if !ok {
			return nil, false
		}
		total.Mul(n, big.NewInt(86400))
		s = rest
	}
	parts := strings.Split(s, ":")
	var units []int64
	switch {
	case len(parts) == 3:
		units = []int64{3600, 60, 1}
	case len(parts) == 2 && hasDays:
		units = []int64{3600, 60}
	case len(parts) == 2:
		units = []int64{60, 1}
	case len(parts) == 1 && hasDays:
		units = []int64{3600}
	case len(parts) == 1:
		units = []int64{60}
	default:
		return nil, false
	}
	for i, p := range parts {
		n, ok := digits(p)
		if !ok {
			return nil, false
		}
		total.Add(total, n.Mul(n, big.NewInt(units[i])))
	}
	return total, true
}

func digits(s string) (*big.Int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, 10)
	return n, ok
}
