package billing

import (
	"encoding/json"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"
)

func TestParseMicros(t *testing.T) {
	for in, want := range map[string]Micros{"0.02": 20000, "2.50": 2500000, "1": 1000000, "-1.5": -1500000, ".5": 500000, "0.000001": 1} {
		got, err := ParseMicros(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "0.0000001", "1e3", "1.2.3", "--1", "99999999999999999"} {
		if _, err := ParseMicros(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if Micros(-1500000).String() != "-1.500000" || Micros(5).String() != "0.000005" {
		t.Error("formatting")
	}
}

func TestRoundingRules(t *testing.T) {
	cases := []struct {
		m        Micros
		up, even string
	}{
		{5000, "0.010000", "0.000000"},  // half a cent
		{15000, "0.020000", "0.020000"}, // 1.5 cents: even is 2
		{25000, "0.030000", "0.020000"}, // 2.5 cents: even is 2
		{4999, "0.000000", "0.000000"},
		{5001, "0.010000", "0.010000"},
		{-5000, "-0.010000", "0.000000"}, // credits round symmetrically
		{28125, "0.030000", "0.030000"},
	}
	for _, c := range cases {
		if got := HalfUp.ToMinor(c.m, 2).String(); got != c.up {
			t.Errorf("half-up %s: %s, want %s", c.m, got, c.up)
		}
		if got := HalfEven.ToMinor(c.m, 2).String(); got != c.even {
			t.Errorf("half-even %s: %s, want %s", c.m, got, c.even)
		}
	}
	// Job lines are exact to the micro-unit: 1 core for 1 s at 0.02/h.
	if got := HalfUp.ToMicros(new(big.Rat).Mul(big.NewRat(1, 3600), big.NewRat(2, 100))); got != 6 {
		t.Errorf("1 core-second: %d micros, want 6 (0.0000055 rounded half-up)", got)
	}
	if _, err := ParseRounding("banker"); err == nil {
		t.Error("unknown rounding accepted")
	}
}

func TestRateFileValidation(t *testing.T) {
	base := `name: x
currency: USD
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    partitions:
      cpu: {cpu: "0.02"}
`
	cases := map[string]struct {
		yaml  string
		known []string
		want  string
	}{
		"unknown partition": {base, []string{"gpu"}, `unknown partition "cpu"`},
		"negative price":    {strings.Replace(base, `"0.02"`, `"-0.02"`, 1), nil, "negative price"},
		"overlapping versions": {base + `  - version: 2
    effective_from: 2025-12-01T00:00:00Z
    partitions:
      cpu: {cpu: "0.03"}
`, nil, "versions overlap"},
		"duplicate version": {base + `  - version: 1
    effective_from: 2026-02-01T00:00:00Z
    partitions:
      cpu: {cpu: "0.03"}
`, nil, "appears twice"},
		"typo in a key":       {strings.Replace(base, "cpu: {cpu:", "cpu: {cpus:", 1), nil, "cpus"},
		"bad currency":        {strings.Replace(base, "USD", "dollars", 1), nil, "ISO 4217"},
		"bad date":            {strings.Replace(base, "2026-01-01T00:00:00Z", "January", 1), nil, "effective_from"},
		"bad combine":         {strings.Replace(base, `{cpu: "0.02"}`, `{combine: avg, cpu: "0.02"}`, 1), nil, "combine"},
		"too many decimals":   {strings.Replace(base, `"0.02"`, `"0.0000001"`, 1), nil, "more than 6 decimals"},
		"price that is a map": {strings.Replace(base, `{cpu: "0.02"}`, `{cpu: {a: 1}}`, 1), nil, "want a price"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRateFile(strings.NewReader(c.yaml), c.known)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if _, ok := err.(*ValidationError); !ok {
				t.Errorf("%T is not a ValidationError", err)
			}
		})
	}
	if _, err := ParseRateFile(strings.NewReader(base), []string{"cpu", "gpu"}); err != nil {
		t.Fatal(err)
	}
}

func TestMarshalVersionRoundTrips(t *testing.T) {
	for _, c := range standardCards(t) {
		b, err := MarshalVersion(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRateFile(strings.NewReader(string(b)), nil)
		if err != nil {
			t.Fatalf("%s\n%v", b, err)
		}
		b2, _ := MarshalVersion(back[0])
		if string(b) != string(b2) {
			t.Errorf("round trip changed the card:\n%s\n---\n%s", b, b2)
		}
	}
}

func TestBasisCombineAndGPUs(t *testing.T) {
	cards := standardCards(t)
	r := Rater{Cards: cards, Rounding: HalfUp}
	u := job("alice", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 8, MemMiB: 8192}, 3600, "2026-10-10T12:00:00Z")
	u.Allocated = Resources{CPU: 4, MemMiB: 4096}
	req, _ := r.Rate(u)
	alloc := *cards[0]
	alloc.Basis = "allocated"
	ra := Rater{Cards: Cards{&alloc}, Rounding: HalfUp}
	al, _ := ra.Rate(u)
	if req.Total.String() != "0.200000" || al.Total.String() != "0.100000" {
		t.Errorf("requested %s, allocated %s", req.Total, al.Total)
	}
	// Untyped GPUs and GPUs of a type without a price of their own pay the
	// default price.
	g := job("carol", "physics", "gpu", "normal", "COMPLETED", Resources{GPU: 3, GPUByType: map[string]int64{"a100": 1, "v100": 1}}, 3600, "2026-10-10T12:00:00Z")
	ch, _ := r.Rate(g)
	got := amounts(ch)
	if got["gpu:a100"] != "2.500000" || got["gpu"] != "2.000000" || got["total"] != "4.500000" {
		t.Errorf("mixed GPUs: %v", got)
	}
	// A zero-length job costs nothing but is rated.
	z := job("alice", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 4, MemMiB: 1024}, 0, "2026-10-10T12:00:00Z")
	if ch, err := r.Rate(z); err != nil || ch.Total != 0 {
		t.Errorf("zero-length: %v %v", ch.Total, err)
	}
	// No card in force yet.
	early := job("alice", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 1}, 60, "2025-06-01T00:00:00Z")
	if _, err := r.Rate(early); err == nil {
		t.Error("rated with no card in force")
	}
}

// Properties over random jobs: lines add to totals; rating is
// deterministic; splitting a job never moves its cost by more than the
// rounding of the extra lines.
func TestProperties(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	rng := rand.New(rand.NewSource(1))
	parts := []string{"cpu", "gpu", "bigmem", "usage", "short"}
	qos := []string{"normal", "standby", "debug"}
	accts := []string{"physics", "chem"}
	for i := 0; i < 3000; i++ {
		elapsed := rng.Int63n(3 * 86400)
		end := at("2026-10-01T00:00:00Z").Add(time.Duration(rng.Int63n(60*86400)) * time.Second)
		u := job("u", accts[rng.Intn(2)], parts[rng.Intn(len(parts))], qos[rng.Intn(3)], "COMPLETED",
			Resources{CPU: 1 + rng.Int63n(128), MemMiB: rng.Int63n(1 << 20), Nodes: 1 + rng.Int63n(4), GPU: rng.Int63n(3),
				GPUByType: map[string]int64{}}, elapsed, end.Format(time.RFC3339))
		if u.Requested.GPU > 0 && rng.Intn(2) == 0 {
			u.Requested.GPUByType["a100"] = u.Requested.GPU
		}
		u.CPUTimeMicros = rng.Int63n(elapsed*u.Requested.CPU*1_000_000 + 1)
		a, err := r.Rate(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.Rate(u)
		var sum Micros
		for _, l := range a.Lines {
			sum += l.Amount
		}
		if sum != a.Total || a.Total < 0 {
			t.Fatalf("job %d: lines %s total %s", i, sum, a.Total)
		}
		if fmtCharge(a) != fmtCharge(b) {
			t.Fatalf("job %d: re-rating differs", i)
		}
		if elapsed < 2 || u.Partition == "short" {
			continue // the minimum charge applies per job, not per portion
		}
		mid := u.Start.Add(time.Duration(1+rng.Int63n(elapsed-1)) * time.Second)
		p1, _ := r.RatePortion(u, u.Start, mid, false)
		p2, _ := r.RatePortion(u, mid, u.End, true)
		diff := int64(p1.Total + p2.Total - a.Total)
		if diff < 0 {
			diff = -diff
		}
		if diff > int64(len(p1.Lines)) { // at most one micro-unit per extra line
			t.Fatalf("job %d: split %s + %s vs whole %s", i, p1.Total, p2.Total, a.Total)
		}
	}
}

func fmtCharge(c Charge) string {
	var b strings.Builder
	for _, l := range c.Lines {
		b.WriteString(l.Component + l.GPUType + l.Quantity + l.Amount.String() + ";")
	}
	return b.String() + c.Total.String()
}

func TestMinorUnits(t *testing.T) {
	for _, c := range []struct {
		m        Micros
		currency string
		want     string
	}{
		{12_345_678, "USD", "12.35"}, {12_500_000, "JPY", "13"}, {12_345_678, "KWD", "12.346"}, {-5_000, "EUR", "-0.01"},
	} {
		if got := NewPolicy(HalfUp, nil).Format(c.m, c.currency); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.m, c.currency, got, c.want)
		}
	}
	yen, err := ParseRateFile(strings.NewReader("name: jp\ncurrency: JPY\nversions:\n  - version: 1\n    effective_from: 2026-01-01T00:00:00Z\n    partitions:\n      cpu: {cpu: \"3\"}\n"), nil)
	if err != nil || yen[0].MinorDigits != 0 {
		t.Fatalf("JPY card: %v %+v", err, yen)
	}
}

// Components the worked examples do not reach: node, billing TRES, fixed fee.
func TestNodeBillingAndFee(t *testing.T) {
	card := `name: x
currency: USD
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    partitions:
      hpc: {node: "0.50", billing: "0.01", fixed_fee: "0.10"}
      both: {combine: max, cpu: "0.02", node: "0.50"}
`
	cards, err := ParseRateFile(strings.NewReader(card), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Rater{Cards: cards, Rounding: HalfUp}
	u := job("a", "p", "hpc", "normal", "COMPLETED", Resources{CPU: 64, Nodes: 2, Billing: 80}, 5400, "2026-10-10T12:00:00Z")
	ch, _ := r.Rate(u)
	got := amounts(ch)
	// node 2 × 1.5 h × 0.50 = 1.50; billing 80 × 1.5 × 0.01 = 1.20; fee 0.10
	if got["node"] != "1.500000" || got["billing"] != "1.200000" || got["fee"] != "0.100000" || got["total"] != "2.800000" {
		t.Errorf("hpc: %v", got)
	}
	u.Partition = "both"
	ch, _ = r.Rate(u)
	// cpu 64 × 1.5 × 0.02 = 1.92 beats node 1.50 under max
	if got := amounts(ch); got["cpu"] != "1.920000" || got["node"] != "0.000000" || got["total"] != "1.920000" {
		t.Errorf("max: %v", got)
	}
}

func TestParseLines(t *testing.T) {
	lines := []Line{
		{Component: "cpu", Quantity: "10", Unit: "core-h", UnitPrice: 20000, QOSMultiplier: One, AccountMultiplier: 900000, Amount: 180000},
		{Component: "gpu", GPUType: "a100", Quantity: "6", Unit: "GPU-h", UnitPrice: 2500000, QOSMultiplier: 500000, AccountMultiplier: One, Amount: 7500000, Note: "x, [y]"},
		{Component: "mem", Quantity: "1", Unit: "GiB-h", Note: `quote " and \ backslash`, Amount: -3},
	}
	for _, in := range [][]Line{lines, lines[:2], nil} {
		b, _ := json.Marshal(in)
		got, err := ParseLines(b)
		if err != nil || len(got) != len(in) {
			t.Fatalf("%s: %v %v", b, got, err)
		}
		for i := range in {
			if got[i] != in[i] {
				t.Errorf("%+v != %+v", got[i], in[i])
			}
		}
	}
	if _, err := ParseLines([]byte(`[["cpu"]]`)); err == nil {
		t.Error("short line accepted")
	}
}

// The policy rounds with each currency's digits from its card, else ISO's.
func TestPolicyDigitsFromCards(t *testing.T) {
	cards := Cards{&RateCard{Name: "mills", Currency: "USD", MinorDigits: 3}}
	pol := NewPolicy(HalfEven, cards)
	for _, c := range []struct {
		m        Micros
		currency string
		want     string
	}{
		{12_345_500, "USD", "12.346"}, {12_344_500, "USD", "12.344"}, {12_500_000, "JPY", "12"}, {-5_000, "EUR", "0.00"},
	} {
		if got := pol.Format(c.m, c.currency); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.m, c.currency, got, c.want)
		}
	}
	sts := pol.BuildStatements([]ChargeSum{
		{Account: "a", User: "x", Currency: "USD", Component: "cpu", Jobs: 2, Exact: 1_000_400},
		{Account: "a", User: "y", Currency: "USD", Component: "cpu", Jobs: 1, Exact: 1_000_400},
		{Account: "a", User: "x", Currency: "USD", Jobs: 2},
		{Account: "a", User: "y", Currency: "USD", Jobs: 1},
		{Account: "a", User: "y", Component: AdjustmentsComponent, Jobs: 1, Exact: -500},
	})
	// Sums of one line add exactly before the one rounding (2.000800 -> 2.001);
	// the -0.0005 adjustment rounds half-even to 0.000.
	if len(sts) != 1 || sts[0].Jobs != 3 || sts[0].Lines[0].Amount != 2_001_000 || sts[0].Total != 2_001_000 || sts[0].Currency != "USD" {
		t.Fatalf("statement %+v", sts)
	}
}
