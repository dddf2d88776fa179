package billing

import (
	"fmt"
	"math/big"
)

// Rounding is the one rule by which exact amounts become amounts of a
// coarser unit (Policy carries it with each currency's minor digits). It
// is applied in exactly two places, both in this package:
//
//  1. A job's charge line is computed exactly (a rational number) and
//     stored to the micro-unit (10^-6) with this rule.
//  2. A statement line (per account, period and component) sums its jobs'
//     exact micro-unit amounts and rounds the sum once to the currency's
//     minor unit (cents) with this rule. A statement's total is the sum of
//     its rounded lines.
//
// So 10,000 jobs of 0.0045 make a statement line of 45.00, not 0.00.
type Rounding string

// Rounding rules.
const (
	HalfUp   Rounding = "half-up"   // 0.005 -> 0.01, -0.005 -> -0.01 (away from zero)
	HalfEven Rounding = "half-even" // 0.005 -> 0.00, 0.015 -> 0.02 (banker's)
)

// ParseRounding reads a rule name.
func ParseRounding(s string) (Rounding, error) {
	switch Rounding(s) {
	case HalfUp, HalfEven:
		return Rounding(s), nil
	}
	return "", fmt.Errorf("rounding %q: want half-up or half-even", s)
}

// divRound returns num/den rounded to an integer by rule.
func (rule Rounding) divRound(num, den *big.Int) *big.Int {
	if den.Sign() < 0 {
		num, den = new(big.Int).Neg(num), new(big.Int).Neg(den)
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() == 0 {
		return q
	}
	twice := new(big.Int).Abs(r)
	twice.Lsh(twice, 1)
	cmp := twice.Cmp(den)
	away := cmp > 0 || (cmp == 0 && (rule != HalfEven || q.Bit(0) == 1))
	if away {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// roundsAway says whether the non-negative quotient q with remainder r of
// a division by d rounds up to q+1 by rule (the 128-bit fast path; divRound
// is the same rule on big integers).
func (rule Rounding) roundsAway(q, r, d uint64) bool {
	if r < d-r { // 2r < d, written so it cannot overflow
		return false
	}
	return r != d-r || rule != HalfEven || q&1 == 1
}

// ToMicros rounds an exact amount (in currency units) to micro-units.
func (rule Rounding) ToMicros(amount *big.Rat) Micros {
	num := new(big.Int).Mul(amount.Num(), big.NewInt(MicrosPerUnit))
	return Micros(rule.divRound(num, amount.Denom()).Int64())
}

// ToMinor rounds micro-units to the currency's minor unit (minorDigits
// decimals, 2 for cents) and returns the amount in micro-units again.
func (rule Rounding) ToMinor(m Micros, minorDigits int) Micros {
	step := int64(MicrosPerUnit)
	for i := 0; i < minorDigits; i++ {
		step /= 10
	}
	q := rule.divRound(big.NewInt(int64(m)), big.NewInt(step))
	return Micros(q.Int64() * step)
}
