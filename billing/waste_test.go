package billing

import "testing"

func TestWasteRule(t *testing.T) {
	p := func(n int64) *int64 { return &n }
	w := Waste()
	for _, tc := range []struct {
		name     string
		eff      *int64
		total    Micros
		wasteful bool
		wasted   Micros
	}{
		{"4 GPUs at 3 % for 499.20", p(30_000), 499_200_000, true, 484_224_000},
		{"just under 20 %, just at 10.00", p(199_999), 10_000_000, true, 8_000_010},
		{"at 20 %", p(200_000), 499_200_000, false, 399_360_000},
		{"cheap", p(10_000), 9_999_999, false, 9_899_999},
		{"idle throughout", p(0), 20_000_000, true, 20_000_000},
		{"efficiency unknown", nil, 499_200_000, false, 0},
		{"busy", p(950_000), 100_000_000, false, 5_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.Wasteful(tc.eff, tc.total); got != tc.wasteful {
				t.Errorf("Wasteful = %v, want %v", got, tc.wasteful)
			}
			if tc.eff != nil {
				if got := Wasted(*tc.eff, tc.total, HalfUp); got != tc.wasted {
					t.Errorf("Wasted = %s, want %s", got, tc.wasted)
				}
			}
		})
	}
}
