package replica

import "testing"

func TestParseLSN(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		bad  bool
	}{
		{in: "0/0", want: 0},
		{in: "16/B374D848", want: 0x16_B374D848},
		{in: "FFFFFFFF/FFFFFFFF", want: 1<<64 - 1},
		{in: "16B374D848", bad: true},
		{in: "x/1", bad: true},
		{in: "1/100000000", bad: true},
	} {
		got, err := parseLSN(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseLSN(%q) = %x, %v", c.in, got, err)
		}
	}
}
