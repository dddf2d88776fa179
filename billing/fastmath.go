package billing

import "math/bits"

// fastAmount computes round(num × secs × price × qos × acct /
// (den × 3600 × 10^12)) in 128-bit integer arithmetic: the exact amount of
// a component in micro-units. ok is false when a value does not fit; the
// caller then takes the math/big path, which gives the same result.
func fastAmount(num, den, secs int64, price Micros, qos, acct Ratio, rule Rounding) (Micros, bool) {
	if num < 0 || den <= 0 || secs < 0 || price < 0 || qos < 0 || acct < 0 {
		return 0, false
	}
	hi, lo, ok := product(uint64(num), uint64(secs), uint64(price), uint64(qos), uint64(acct))
	if !ok {
		return 0, false
	}
	d1, ok := mulCheck(uint64(den), 3600)
	if !ok {
		return 0, false
	}
	d, ok := mulCheck(d1, 1_000_000_000_000)
	if !ok || hi >= d {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, d)
	if rule.roundsAway(q, r, d) {
		q++
	}
	if q > 1<<62 {
		return 0, false
	}
	return Micros(q), true
}

// product multiplies into 128 bits, reporting overflow.
func product(first uint64, rest ...uint64) (hi, lo uint64, ok bool) {
	lo = first
	for _, f := range rest {
		h1, l1 := bits.Mul64(lo, f)
		h2, l2 := bits.Mul64(hi, f)
		if h2 != 0 {
			return 0, 0, false
		}
		var c uint64
		hi, c = bits.Add64(h1, l2, 0)
		if c != 0 {
			return 0, 0, false
		}
		lo = l1
	}
	return hi, lo, true
}

func mulCheck(a, b uint64) (uint64, bool) {
	h, l := bits.Mul64(a, b)
	return l, h == 0
}

// fastQuantity prints num × secs / (den × 3600) with up to six decimals,
// trailing zeros trimmed (display only).
func fastQuantity(num, den, secs int64) (string, bool) {
	if num < 0 || secs < 0 || den <= 0 {
		return "", false
	}
	hi, lo, ok := product(uint64(num), uint64(secs), 1_000_000)
	d, ok2 := mulCheck(uint64(den), 3600)
	if !ok || !ok2 || hi >= d {
		return "", false
	}
	q, r := bits.Div64(hi, lo, d)
	if q > 1<<62 {
		return "", false
	}
	if HalfUp.roundsAway(q, r, d) { // a quantity shown, not money
		q++
	}
	return trimDecimal(formatScaled(int64(q), 6)), true
}

func trimDecimal(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// mulDivRound returns round(a × b / d) for non-negative values by rule.
func mulDivRound(a, b, d uint64, rule Rounding) uint64 {
	if d == 0 {
		return 0
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return 1<<63 - 1 // beyond any real amount; callers cap it
	}
	q, r := bits.Div64(hi, lo, d)
	if rule.roundsAway(q, r, d) {
		q++
	}
	return q
}
