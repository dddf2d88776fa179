package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Resources are trackable resources as typed counts.
type Resources struct {
	CPU       int64
	MemMiB    int64
	Nodes     int64
	Billing   int64
	GPU       int64            // all GPUs
	GPUByType map[string]int64 // "a100" -> 2
}

func (r Resources) empty() bool {
	return r.CPU == 0 && r.MemMiB == 0 && r.Nodes == 0 && r.Billing == 0 && r.GPU == 0
}

// Usage is what billing needs of one job record (one requeued attempt).
type Usage struct {
	Cluster        string
	JobID          int64
	User           string
	Account        string
	Partition      string
	QOS            string
	State          string
	Start, End     time.Time // zero Start: never ran
	ElapsedSeconds int64
	CPUTimeMicros  int64 // TotalCPU, user+system
	Requested      Resources
	Allocated      Resources
}

// Line is one component of a job's charge, with everything needed to
// explain and recompute its amount.
type Line struct {
	Component         string `json:"component"` // cpu, mem, gpu, node, billing, cpu_time, fee, minimum
	GPUType           string `json:"gpu_type,omitempty"`
	Quantity          string `json:"quantity"` // exact decimal, e.g. "10" core-hours
	Unit              string `json:"unit"`     // core-h, GiB-h, GPU-h, node-h, billing-h, CPU-h, job
	UnitPrice         Micros `json:"unit_price"`
	QOSMultiplier     Ratio  `json:"qos_multiplier"`
	AccountMultiplier Ratio  `json:"account_multiplier"`
	Amount            Micros `json:"amount"`
	Note              string `json:"note,omitempty"`
}

// MarshalJSON stores a line compactly as an array: [component, gpu_type,
// quantity, unit, unit_price, qos_multiplier, account_multiplier, amount,
// note]. Charges are stored by the million; keys would double their size.
func (l Line) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{l.Component, l.GPUType, l.Quantity, l.Unit, int64(l.UnitPrice), int64(l.QOSMultiplier),
		int64(l.AccountMultiplier), int64(l.Amount), l.Note})
}

// UnmarshalJSON reads the array form.
func (l *Line) UnmarshalJSON(b []byte) error {
	if ok := l.unmarshalFast(b); ok {
		return nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 9 {
		return fmt.Errorf("charge line: want 9 fields, got %d", len(a))
	}
	var up, qm, am, amt int64
	for i, dst := range []any{&l.Component, &l.GPUType, &l.Quantity, &l.Unit, &up, &qm, &am, &amt, &l.Note} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("charge line field %d: %w", i, err)
		}
	}
	l.UnitPrice, l.QOSMultiplier, l.AccountMultiplier, l.Amount = Micros(up), Ratio(qm), Ratio(am), Micros(amt)
	return nil
}

// Charge is a job's (or, under split attribution, a job portion's) cost.
type Charge struct {
	RateCardID      int64
	RateCardName    string
	RateCardVersion int
	Currency        string
	PortionStart    time.Time // the part of the job this charge covers
	PortionEnd      time.Time
	Lines           []Line
	Total           Micros
	NotCharged      string // why a job costs nothing, when it does not
	AccountReason   string // the discount's reason, for receipts
	// CPU efficiency: TotalCPU / (elapsed x CPUs), in parts per million,
	// and the cost of the reserved cores that did nothing.
	EfficiencyPPM int64
	IdleCost      Micros
}

// Rater rates usage under rate cards.
type Rater struct {
	Cards    Cards
	Rounding Rounding
}

const secondsPerHour = 3600

// Rate prices one job record whole (end attribution).
func (rt Rater) Rate(u Usage) (Charge, error) {
	return rt.RatePortion(u, u.Start, u.End, true)
}

// RatePortion prices the part of a job that ran between from and to (split
// attribution). The per-job fee and minimum charge are applied once, in the
// portion that holds the job's end (last).
func (rt Rater) RatePortion(u Usage, from, to time.Time, last bool) (Charge, error) {
	rounding := rt.Rounding
	if rounding == "" {
		rounding = HalfUp
	}
	ch := Charge{PortionStart: from, PortionEnd: to}
	if u.Start.IsZero() || u.End.IsZero() {
		ch.NotCharged = "never started"
		if u.End.IsZero() && !u.Start.IsZero() {
			ch.NotCharged = "still running"
		}
		return ch, nil
	}
	card := rt.Cards.InForce(u.Cluster, u.End)
	if card == nil {
		return ch, NotFoundf("no rate card is in force on %s for cluster %q", u.End.UTC().Format(time.RFC3339), u.Cluster)
	}
	ch.RateCardID, ch.RateCardName, ch.RateCardVersion, ch.Currency = card.ID, card.Name, card.Version, card.Currency
	if !card.charges(u.State) {
		ch.NotCharged = u.State + " jobs are not charged"
		return ch, nil
	}
	prices, ok := card.prices(u.Account, u.Partition)
	if !ok {
		return ch, NotFoundf("rate card %s v%d has no prices for partition %q", card.Name, card.Version, u.Partition)
	}

	// The seconds of this portion: elapsed scaled by the portion's share of
	// the wall-clock run, so suspended time is treated alike everywhere.
	wall := u.End.Sub(u.Start)
	partial := wall > 0 && (from.After(u.Start) || to.Before(u.End))
	// Exact rationals are built only when needed: a portion of a job, CPU
	// time, or a value too large for the integer fast path.
	var secondsR, cpuSecondsR, hoursR *big.Rat
	seconds := func() *big.Rat {
		if secondsR == nil {
			secondsR = big.NewRat(u.ElapsedSeconds, 1)
			if partial {
				secondsR.Mul(secondsR, big.NewRat(int64(overlap(u.Start, u.End, from, to)/time.Second), int64(wall/time.Second)))
			}
		}
		return secondsR
	}
	cpuSeconds := func() *big.Rat {
		if cpuSecondsR == nil {
			cpuSecondsR = big.NewRat(u.CPUTimeMicros, 1_000_000)
			if partial {
				cpuSecondsR.Mul(cpuSecondsR, big.NewRat(int64(overlap(u.Start, u.End, from, to)/time.Second), int64(wall/time.Second)))
			}
		}
		return cpuSecondsR
	}
	hours := func() *big.Rat {
		if hoursR == nil {
			hoursR = new(big.Rat).Quo(seconds(), big.NewRat(secondsPerHour, 1))
		}
		return hoursR
	}

	res := u.Requested
	if card.Basis == "allocated" || res.empty() {
		res = u.Allocated
	}
	qos := One
	if m, ok := card.QOS[u.QOS]; ok {
		qos = m
	}
	acct := One
	if a, ok := card.Accounts[u.Account]; ok {
		acct = a.Multiplier
		ch.AccountReason = a.Reason
	}
	// whole is the common case (end attribution): integer fast path.
	whole := !partial
	secs := u.ElapsedSeconds
	line := func(component, gpuType, unit string, num, den int64, price Micros) Line {
		l := Line{Component: component, GPUType: gpuType, Unit: unit, UnitPrice: price, QOSMultiplier: qos, AccountMultiplier: acct}
		if whole {
			a, ok1 := fastAmount(num, den, secs, price, qos, acct, rounding)
			q, ok2 := fastQuantity(num, den, secs)
			if ok1 && ok2 {
				l.Amount, l.Quantity = a, q
				return l
			}
		}
		qty := new(big.Rat).Mul(big.NewRat(num, den), hours())
		amt := new(big.Rat).Mul(qty, price.Rat())
		amt.Mul(amt, big.NewRat(int64(qos), int64(One)))
		amt.Mul(amt, big.NewRat(int64(acct), int64(One)))
		l.Quantity, l.Amount = decimal(qty), rounding.ToMicros(amt)
		return l
	}
	lineRat := func(component, unit string, qty *big.Rat, price Micros) Line {
		amt := new(big.Rat).Mul(qty, price.Rat())
		amt.Mul(amt, big.NewRat(int64(qos), int64(One)))
		amt.Mul(amt, big.NewRat(int64(acct), int64(One)))
		return Line{Component: component, Quantity: decimal(qty), Unit: unit, UnitPrice: price,
			QOSMultiplier: qos, AccountMultiplier: acct, Amount: rounding.ToMicros(amt)}
	}

	var tres []Line
	if prices.CPU != nil && res.CPU > 0 {
		tres = append(tres, line("cpu", "", "core-h", res.CPU, 1, *prices.CPU))
	}
	if prices.Mem != nil && res.MemMiB > 0 {
		tres = append(tres, line("mem", "", "GiB-h", res.MemMiB, 1024, *prices.Mem))
	}
	if res.GPU > 0 && (prices.GPU != nil || len(prices.GPUTypes) > 0) {
		types := make([]string, 0, len(res.GPUByType))
		for t := range res.GPUByType {
			types = append(types, t)
		}
		sort.Strings(types)
		rest := res.GPU
		for _, t := range types {
			n := res.GPUByType[t]
			price, ok := prices.GPUTypes[t]
			if !ok {
				continue // billed at the default price below
			}
			tres = append(tres, line("gpu", t, "GPU-h", n, 1, price))
			rest -= n
		}
		if rest > 0 && prices.GPU != nil {
			tres = append(tres, line("gpu", "", "GPU-h", rest, 1, *prices.GPU))
		}
	}
	if prices.Node != nil && res.Nodes > 0 {
		tres = append(tres, line("node", "", "node-h", res.Nodes, 1, *prices.Node))
	}
	if prices.Billing != nil && res.Billing > 0 {
		tres = append(tres, line("billing", "", "billing-h", res.Billing, 1, *prices.Billing))
	}
	if prices.Combine == "max" && len(tres) > 1 {
		// Core-equivalent: only the largest TRES component is charged; the
		// others are shown at zero with what they would have cost.
		maxI := 0
		for i, l := range tres {
			if l.Amount > tres[maxI].Amount {
				maxI = i
			}
		}
		for i := range tres {
			if i != maxI {
				tres[i].Note = fmt.Sprintf("not charged: the larger %s component is (would be %s)", tres[maxI].Component, tres[i].Amount)
				tres[i].Amount = 0
			}
		}
	}
	ch.Lines = append(ch.Lines, tres...)
	if prices.CPUTime != nil {
		cpuHours := new(big.Rat).Quo(cpuSeconds(), big.NewRat(secondsPerHour, 1))
		ch.Lines = append(ch.Lines, lineRat("cpu_time", "CPU-h", cpuHours, *prices.CPUTime))
	}
	if last && prices.FixedFee != nil {
		fee := lineRat("fee", "job", big.NewRat(1, 1), *prices.FixedFee)
		fee.Quantity = "1"
		ch.Lines = append(ch.Lines, fee)
	}
	for _, l := range ch.Lines {
		ch.Total += l.Amount
	}
	if last && prices.MinCharge != nil && qos != 0 && acct != 0 && ch.Total < *prices.MinCharge {
		short := *prices.MinCharge - ch.Total
		ch.Lines = append(ch.Lines, Line{Component: "minimum", Quantity: "1", Unit: "job", UnitPrice: *prices.MinCharge,
			QOSMultiplier: One, AccountMultiplier: One, Amount: short,
			Note: "raises the job to the minimum charge of " + prices.MinCharge.String()})
		ch.Total += short
	}

	// Efficiency: how much of the reserved CPU time was used, and what the
	// idle share of the cpu line cost.
	if u.ElapsedSeconds > 0 && res.CPU > 0 && u.CPUTimeMicros >= 0 {
		// eff (ppm) = CPU µs / (elapsed s × CPUs); both fit 128 bits.
		eff := int64(mulDivRound(uint64(u.CPUTimeMicros), 1, uint64(u.ElapsedSeconds)*uint64(res.CPU), rounding))
		if eff > 1_000_000 {
			eff = 1_000_000
		}
		ch.EfficiencyPPM = eff
		for _, l := range ch.Lines {
			if l.Component == "cpu" && l.Amount >= 0 {
				ch.IdleCost = Micros(mulDivRound(uint64(l.Amount), uint64(1_000_000-eff), 1_000_000, rounding))
			}
		}
	}
	return ch, nil
}

// overlap is how long [a1,a2) and [b1,b2) share.
func overlap(a1, a2, b1, b2 time.Time) time.Duration {
	start, end := a1, a2
	if b1.After(start) {
		start = b1
	}
	if b2.Before(end) {
		end = b2
	}
	if end.Before(start) {
		return 0
	}
	return end.Sub(start)
}

// decimal prints a rational exactly when it has at most six decimals, else
// to six decimals (display only; amounts never come from it).
func decimal(r *big.Rat) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// unmarshalFast reads the array form Tally writes when no string holds an
// escape, without reflection (exports read millions of lines).
func (l *Line) unmarshalFast(b []byte) bool {
	if bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	b = b[1 : len(b)-1]
	var strs [5]string
	var nums [4]int64
	for i := 0; i < 9; i++ {
		b = bytes.TrimLeft(b, " ")
		if i > 0 {
			if len(b) == 0 || b[0] != ',' {
				return false
			}
			b = bytes.TrimLeft(b[1:], " ")
		}
		if i < 4 || i == 8 {
			if len(b) == 0 || b[0] != '"' {
				return false
			}
			end := bytes.IndexByte(b[1:], '"')
			if end < 0 {
				return false
			}
			si := i
			if i == 8 {
				si = 4
			}
			strs[si] = string(b[1 : 1+end])
			b = b[end+2:]
			continue
		}
		end := bytes.IndexAny(b, ", ")
		if end < 0 {
			end = len(b)
		}
		n, err := strconv.ParseInt(string(b[:end]), 10, 64)
		if err != nil {
			return false
		}
		nums[i-4] = n
		b = b[end:]
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return false
	}
	*l = Line{Component: strs[0], GPUType: strs[1], Quantity: strs[2], Unit: strs[3], UnitPrice: Micros(nums[0]),
		QOSMultiplier: Ratio(nums[1]), AccountMultiplier: Ratio(nums[2]), Amount: Micros(nums[3]), Note: strs[4]}
	return true
}

// ParseLines reads stored charge lines: a fast scan for the form Tally
// writes, encoding/json for anything else.
func ParseLines(b []byte) ([]Line, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		t := bytes.TrimSpace(b)
		if len(t) >= 2 && t[0] == '[' && t[len(t)-1] == ']' {
			t = bytes.TrimSpace(t[1 : len(t)-1])
			var out []Line
			ok := true
			for len(t) > 0 && ok {
				if t[0] != '[' {
					ok = false
					break
				}
				// The end of this line: the first ']' outside a string.
				in, end := false, -1
				for i := 1; i < len(t); i++ {
					if t[i] == '"' {
						in = !in
					} else if t[i] == ']' && !in {
						end = i
						break
					}
				}
				var l Line
				if end < 0 || !l.unmarshalFast(t[:end+1]) {
					ok = false
					break
				}
				out = append(out, l)
				t = bytes.TrimSpace(t[end+1:])
				if len(t) > 0 {
					if t[0] != ',' {
						ok = false
						break
					}
					t = bytes.TrimSpace(t[1:])
				}
			}
			if ok {
				return out, nil
			}
		}
	}
	var out []Line
	err := json.Unmarshal(b, &out)
	return out, err
}
