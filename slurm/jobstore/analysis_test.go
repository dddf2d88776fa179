package jobstore

import (
	"testing"
	"time"
)

// A run's windows leave their analysis to the run's last window, unless
// the run has gone a whole Every without one.
func TestAnalysisPacer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		every   time.Duration
		windows int
		want    []bool // Defer's answer per window
	}{
		{"one window analyses", time.Hour, 1, []bool{false}},
		{"a back-fill analyses at its end", time.Hour, 4, []bool{true, true, true, false}},
		{"a long back-fill also analyses on the way", 0, 3, []bool{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewAnalysisPacer(tc.every)
			for i := range tc.windows {
				if got := p.Defer(i == tc.windows-1); got != tc.want[i] {
					t.Fatalf("window %d: Defer = %v, want %v", i+1, got, tc.want[i])
				}
			}
			if p.owed {
				t.Fatal("a run that reached its last window still owes an analysis")
			}
		})
	}
	t.Run("a run that stops early owes one", func(t *testing.T) {
		p := NewAnalysisPacer(time.Hour)
		p.Defer(false)
		if !p.owed {
			t.Fatal("a deferred window left nothing owed")
		}
	})
}
