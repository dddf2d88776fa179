package billing

import "strings"

// Policy is the one place Tally turns exact amounts into the amounts it
// shows and bills: a rounding rule and the minor-unit digits of each
// currency (as its rate card says, else ISO 4217). Statement lines and
// totals, pages, CSVs, PDFs, estimates and forecasts all round through
// a Policy; nothing else rounds money.
//
// What is rounded where (docs/money.md):
//   - a job's charge lines are exact to the micro-unit (Rule.ToMicros);
//   - a statement line is the exact sum of its jobs' lines, rounded once
//     (Round);
//   - a statement's total is the sum of its rounded lines, never rounded
//     again; a period's total is the sum of its statements.
//
// Amounts that are not statement figures (one job's total, a day of a
// chart, an estimate) are shown rounded once by the same rule.
type Policy struct {
	Rule   Rounding
	digits map[string]int
}

// NewPolicy is the policy for a rule and the currencies of cards: each
// card's minor_digits overrides ISO's for its currency (the newest card
// of a currency wins).
func NewPolicy(rule Rounding, cards Cards) Policy {
	if rule == "" {
		rule = HalfUp
	}
	p := Policy{Rule: rule, digits: map[string]int{}}
	for _, c := range cards {
		if c.Currency != "" {
			p.digits[c.Currency] = c.MinorDigits
		}
	}
	return p
}

// Digits is how many decimals currency's minor unit has.
func (p Policy) Digits(currency string) int {
	if d, ok := p.digits[currency]; ok {
		return d
	}
	return DefaultMinorDigits(currency)
}

// Round rounds an exact amount to currency's minor unit.
func (p Policy) Round(m Micros, currency string) Micros {
	return p.rule().ToMinor(m, p.Digits(currency))
}

// Format prints an amount rounded to currency's minor unit, without the
// currency: "12.35" (USD), "1235" (JPY), "12.345" (a card with
// minor_digits: 3).
func (p Policy) Format(m Micros, currency string) string {
	digits := p.Digits(currency)
	s := p.rule().ToMinor(m, digits).String()
	s = s[:len(s)-(6-digits)]
	return strings.TrimSuffix(s, ".")
}

// Money prints an amount as Format does, followed by its currency.
func (p Policy) Money(m Micros, currency string) string {
	s := p.Format(m, currency)
	if currency != "" {
		s += " " + currency
	}
	return s
}

func (p Policy) rule() Rounding {
	if p.Rule == "" {
		return HalfUp
	}
	return p.Rule
}
