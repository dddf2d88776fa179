package billing

import (
	"testing"
	"time"
)

// The close and the period page's disabled button both ask the period
// when it may close; this pins that time to the period's end.
func TestPeriodClosable(t *testing.T) {
	p := Period{Name: "2026-10", Starts: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Ends: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Status: PeriodOpen}
	if !p.ClosableAt().Equal(p.Ends) {
		t.Fatalf("ClosableAt %s, want the end %s", p.ClosableAt(), p.Ends)
	}
	for _, c := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"running", time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC), false},
		{"its last second", p.Ends.Add(-time.Second), false},
		{"at its end", p.Ends, true},
		{"after", p.Ends.Add(48 * time.Hour), true},
	} {
		if got := p.Closable(c.now); got != c.want {
			t.Errorf("%s: Closable = %v, want %v", c.name, got, c.want)
		}
	}
}
