package billing

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BudgetUnit is what a budget counts: money in its card's currency, or an
// amount of use.
type BudgetUnit string

// Budget units. Use is counted in unit-seconds (a core-hour is 3,600
// core-seconds), so that every budget amount is an exact integer.
const (
	UnitMoney     BudgetUnit = "money"
	UnitCoreHours BudgetUnit = "core-hours"
	UnitGPUHours  BudgetUnit = "gpu-hours"
	UnitBilling   BudgetUnit = "billing-hours" // Slurm's billing TRES × hours
)

// BudgetUnits lists the units a budget can be given in.
func BudgetUnits() []BudgetUnit {
	return []BudgetUnit{UnitMoney, UnitCoreHours, UnitGPUHours, UnitBilling}
}

// DefaultThresholds are the percentages of a budget at which its people
// are told (100: spent).
func DefaultThresholds() []int { return []int{50, 80, 100} }

// Budget is what an account (or one person within it, a cap) may spend
// over a range of whole billing periods.
type Budget struct {
	ID      int64
	Account string
	User    string // "" for the whole account; else a cap for this person
	Unit    BudgetUnit
	// Amount is micros of Currency for money, unit-seconds for use.
	Amount   int64
	Currency string // money only
	Starts   time.Time
	Ends     time.Time // exclusive
	// Thresholds are percentages of Amount that alert when reached.
	Thresholds []int
	// RunsOutDays alerts when the forecast says the budget runs out
	// within this many days (0: no such alert).
	RunsOutDays int
	// Enforce holds the account in Slurm once the budget is spent.
	Enforce   bool
	Note      string
	UpdatedBy string
	UpdatedAt time.Time
}

// Validate checks a budget before it is stored. Ranges start and end on
// the first of a month (UTC), where Tally's billing periods begin, so that
// a budget's charges are exactly the statements of the periods inside it.
func (b Budget) Validate() error {
	var problems []string
	if strings.TrimSpace(b.Account) == "" {
		problems = append(problems, "give the account")
	}
	if !slices.Contains(BudgetUnits(), b.Unit) {
		problems = append(problems, fmt.Sprintf("unit %q: use one of money, core-hours, gpu-hours, billing-hours", b.Unit))
	}
	if b.Amount <= 0 {
		problems = append(problems, "the amount must be more than zero")
	}
	if b.Unit == UnitMoney && b.Currency == "" {
		problems = append(problems, "a money budget needs the currency of its rate card")
	}
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"start", b.Starts}, {"end", b.Ends}} {
		if t.at.IsZero() {
			problems = append(problems, "give the "+t.name+" date")
		} else if u := t.at.UTC(); u.Day() != 1 || u.Hour() != 0 || u.Minute() != 0 || u.Second() != 0 || u.Nanosecond() != 0 {
			problems = append(problems, fmt.Sprintf("the %s must be the first day of a month, where billing periods begin (%s is not)", t.name, u.Format("2006-01-02")))
		}
	}
	if !b.Starts.IsZero() && !b.Ends.IsZero() && !b.Ends.After(b.Starts) {
		problems = append(problems, "the end must come after the start")
	}
	if b.Ends.Sub(b.Starts) > 5*366*24*time.Hour {
		problems = append(problems, "a budget covers at most five years")
	}
	for _, t := range b.Thresholds {
		if t < 1 || t > 1000 {
			problems = append(problems, fmt.Sprintf("threshold %d%%: use 1 to 1000", t))
		}
	}
	if b.RunsOutDays < 0 || b.RunsOutDays > 3660 {
		problems = append(problems, "runs-out warning: 0 to 3660 days")
	}
	if len(problems) > 0 {
		return Invalidf("budget for %s: %s", b.Account, strings.Join(problems, "; "))
	}
	return nil
}

// Covers says whether t falls in the budget's range.
func (b Budget) Covers(t time.Time) bool { return !t.Before(b.Starts) && t.Before(b.Ends) }

// Use is an amount of use in unit-seconds, per unit.
type Use struct {
	CoreSeconds    int64
	GPUSeconds     int64
	BillingSeconds int64
}

// In returns the amount of u counted in unit (money is not use: 0).
func (u Use) In(unit BudgetUnit) int64 {
	switch unit {
	case UnitCoreHours:
		return u.CoreSeconds
	case UnitGPUHours:
		return u.GPUSeconds
	case UnitBilling:
		return u.BillingSeconds
	}
	return 0
}

// Balance is where a budget stands at a moment.
type Balance struct {
	Budget Budget
	At     time.Time
	// Charged is what the periods inside the range have charged: for
	// money, the sum of their statements (each as the statement shows it);
	// for use, the unit-seconds of the charged jobs.
	Charged int64
	// Accruing is the cost so far (or use so far) of the jobs running now,
	// which no statement holds yet.
	Accruing int64
	// Recent is what was charged in the ForecastWindow before At, the rate
	// the forecast extrapolates.
	Recent int64
	// RunsOut is when the forecast says the remainder is gone (nil: it
	// lasts the range, nothing is being spent, or it is already gone).
	RunsOut *time.Time
	// ByPeriod is Charged period by period, oldest first (the burn chart).
	ByPeriod []PeriodAmount
}

// PeriodAmount is a budget's charge in one billing period.
type PeriodAmount struct {
	Period string
	Starts time.Time
	Amount int64
}

// ForecastWindow is how far back the forecast looks for a spending rate.
const ForecastWindow = 14 * 24 * time.Hour

// NewBalance works out a budget's balance from what the stores counted.
func NewBalance(b Budget, at time.Time, charged, accruing, recent int64) Balance {
	bal := Balance{Budget: b, At: at, Charged: charged, Accruing: accruing, Recent: recent}
	bal.RunsOut = bal.forecast()
	return bal
}

// Remaining is the budget less what is charged and accruing (negative
// when overspent).
func (b Balance) Remaining() int64 { return b.Budget.Amount - b.Charged - b.Accruing }

// Spent is what is charged and accruing together.
func (b Balance) Spent() int64 { return b.Charged + b.Accruing }

// UsedPercent is the share of the budget spent, in whole percent rounded
// down: 79.99 % has not crossed 80 %.
func (b Balance) UsedPercent() int64 {
	if b.Budget.Amount <= 0 {
		return 0
	}
	p := new(big.Int).Mul(big.NewInt(b.Spent()), big.NewInt(100))
	p.Quo(p, big.NewInt(b.Budget.Amount))
	if b.Spent() < 0 {
		return 0
	}
	return p.Int64()
}

// Crossed lists the budget's thresholds the balance has reached, lowest
// first. A threshold is reached when spent × 100 ≥ amount × threshold,
// exactly.
func (b Balance) Crossed() []int {
	var out []int
	for _, t := range b.Budget.Thresholds {
		spent := new(big.Int).Mul(big.NewInt(b.Spent()), big.NewInt(100))
		limit := new(big.Int).Mul(big.NewInt(b.Budget.Amount), big.NewInt(int64(t)))
		if spent.Cmp(limit) >= 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Exhausted says whether nothing is left.
func (b Balance) Exhausted() bool { return b.Remaining() <= 0 }

// RunsOutSoon says whether the forecast end falls within the budget's
// warning days (and within its range).
func (b Balance) RunsOutSoon() bool {
	if b.Budget.RunsOutDays <= 0 || b.RunsOut == nil {
		return false
	}
	return b.RunsOut.Sub(b.At) <= time.Duration(b.Budget.RunsOutDays)*24*time.Hour
}

// forecast extrapolates the last ForecastWindow's rate from At: the
// remainder lasts remaining ÷ (recent ÷ window). Integer arithmetic on
// seconds, so the date does not wobble with floating point.
func (b Balance) forecast() *time.Time {
	rem := b.Remaining()
	if b.Recent <= 0 || rem <= 0 || !b.Budget.Covers(b.At) {
		return nil
	}
	secs := new(big.Int).Mul(big.NewInt(rem), big.NewInt(int64(ForecastWindow/time.Second)))
	secs.Quo(secs, big.NewInt(b.Recent))
	if !secs.IsInt64() || secs.Int64() > int64(10*366*24*3600) {
		return nil
	}
	t := b.At.Add(time.Duration(secs.Int64()) * time.Second)
	if !t.Before(b.Budget.Ends) {
		return nil // lasts the range at this rate
	}
	return &t
}

// FormatBudgetAmount prints an amount of a budget's unit: money through
// the rounding policy (rounded once, here), use in hours with two
// decimals, rounded down (an hour not yet used is not shown as used).
func (p Policy) FormatBudgetAmount(b Budget, v int64) string {
	if b.Unit == UnitMoney {
		return p.Money(p.Round(Micros(v), b.Currency), b.Currency)
	}
	return FormatHours(v) + " " + string(b.Unit)
}

// FormatHours prints unit-seconds as hours with two decimals, truncated
// toward zero.
func FormatHours(secs int64) string {
	neg := secs < 0
	if neg {
		secs = -secs
	}
	hundredths := secs / 36 // 3600 s per hour, 100 hundredths
	s := fmt.Sprintf("%d.%02d", hundredths/100, hundredths%100)
	if neg {
		return "-" + s
	}
	return s
}

// ParseBudgetAmount reads an amount typed for unit: a decimal of the
// currency (up to six decimals) for money, of hours for use.
func ParseBudgetAmount(unit BudgetUnit, s string) (int64, error) {
	if unit == UnitMoney {
		m, err := ParseMicros(s)
		if err != nil {
			return 0, Invalidf("amount: %v", err)
		}
		return int64(m), nil
	}
	// Hours to seconds: at most four decimals of an hour is finer than a second.
	v, err := parseDecimal(s, 4)
	if err != nil {
		return 0, Invalidf("amount: %v", err)
	}
	secs := new(big.Int).Mul(big.NewInt(v), big.NewInt(3600))
	secs.Quo(secs, big.NewInt(10_000))
	if !secs.IsInt64() {
		return 0, Invalidf("amount %q is too large", s)
	}
	return secs.Int64(), nil
}

// ParseThresholds reads "50, 80, 100" (empty: the defaults).
func ParseThresholds(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultThresholds(), nil
	}
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '%' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 1000 {
			return nil, Invalidf("thresholds: %q is not a percentage from 1 to 1000", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Owner names whose budget it is: "physics", or "alice in physics".
func (b Budget) Owner() string {
	if b.User != "" {
		return b.User + " in " + b.Account
	}
	return b.Account
}

// LastMonth is the last month the range includes ("2027-12").
func (b Budget) LastMonth() string { return b.Ends.AddDate(0, -1, 0).Format("2006-01") }

// Describe says what a budget is, in one line (the audit log, the CLI).
func (p Policy) Describe(b Budget) string {
	return fmt.Sprintf("%s %s %s %s..%s thresholds %v runs-out %dd enforce %v", b.Owner(), b.Unit,
		p.FormatBudgetAmount(b, b.Amount), b.Starts.Format("2006-01"), b.LastMonth(), b.Thresholds, b.RunsOutDays, b.Enforce)
}

// DescribeChange is the audit log's line for a budget set (old nil: new).
func (p Policy) DescribeChange(b Budget, old *Budget) string {
	s := fmt.Sprintf("budget %d: %s", b.ID, p.Describe(b))
	if old != nil {
		s += " (was " + p.Describe(*old) + ")"
	}
	return s
}
