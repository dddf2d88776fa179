package billing

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Micros is an amount of money in millionths of the currency unit. Every
// amount in Tally is one; float64 never holds money.
type Micros int64

// MicrosPerUnit is how many Micros make one currency unit.
const MicrosPerUnit = 1_000_000

// ParseMicros reads a decimal such as "0.02", "2.50" or "-1.5" exactly.
// More than six decimals is an error, not a rounding.
func ParseMicros(s string) (Micros, error) {
	r, err := parseDecimal(s, 6)
	if err != nil {
		return 0, err
	}
	return Micros(r), nil
}

// parseDecimal reads s as an integer number of 10^-scale units.
func parseDecimal(s string, scale int) (int64, error) {
	s = strings.TrimSpace(s)
	orig := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("%q is not a number", orig)
	}
	if len(frac) > scale {
		return 0, fmt.Errorf("%q has more than %d decimals", orig, scale)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%q is not a number", orig)
			}
		}
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", orig)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", scale-len(frac)), 10, 64)
	}
	pow := int64(1)
	for i := 0; i < scale; i++ {
		pow *= 10
	}
	if w > (1<<62)/pow {
		return 0, fmt.Errorf("%q is too large", orig)
	}
	v := w*pow + f
	if neg {
		v = -v
	}
	return v, nil
}

// String prints all six decimals: "0.200000".
func (m Micros) String() string { return formatScaled(int64(m), 6) }

func formatScaled(v int64, scale int) string {
	var buf [32]byte
	return string(appendScaled(buf[:0], v, scale))
}

// appendScaled appends v / 10^scale with exactly scale decimals, without
// fmt: exports print millions of amounts.
func appendScaled(b []byte, v int64, scale int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	pow := int64(1)
	for i := 0; i < scale; i++ {
		pow *= 10
	}
	b = strconv.AppendInt(b, v/pow, 10)
	if scale == 0 {
		return b
	}
	b = append(b, '.')
	frac := strconv.AppendInt(make([]byte, 0, 20), v%pow, 10)
	for i := len(frac); i < scale; i++ {
		b = append(b, '0')
	}
	return append(b, frac...)
}

// Rat returns the amount as an exact rational number of currency units.
func (m Micros) Rat() *big.Rat { return big.NewRat(int64(m), MicrosPerUnit) }

// Ratio is an exact multiplier in parts per million: 0.9 is 900000.
type Ratio int64

// One is the neutral multiplier.
const One Ratio = 1_000_000

// ParseRatio reads "0.9", "1", "0.5" exactly.
func ParseRatio(s string) (Ratio, error) {
	v, err := parseDecimal(s, 6)
	return Ratio(v), err
}

// String prints the multiplier without trailing zeros: "0.9".
func (r Ratio) String() string {
	s := formatScaled(int64(r), 6)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Percent prints it as a percentage: "90%".
func (r Ratio) Percent() string {
	return Ratio(int64(r)*100).String() + "%"
}

// DefaultMinorDigits is how many decimals a currency's minor unit has
// (ISO 4217): 2 for most, 0 for JPY and others, 3 for a few.
func DefaultMinorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}
