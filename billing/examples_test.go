package billing

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func standardCards(t testing.TB) Cards {
	f, err := os.Open("testdata/standard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cards, err := ParseRateFile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cards
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// job builds usage ending at end after elapsed seconds.
func job(user, account, partition, qos, state string, req Resources, elapsed int64, end string) Usage {
	e := at(end)
	return Usage{Cluster: "testbed", JobID: 1, User: user, Account: account, Partition: partition, QOS: qos, State: state,
		Start: e.Add(-time.Duration(elapsed) * time.Second), End: e, ElapsedSeconds: elapsed, Requested: req}
}

func amounts(ch Charge) map[string]string {
	m := map[string]string{}
	for _, l := range ch.Lines {
		k := l.Component
		if l.GPUType != "" {
			k += ":" + l.GPUType
		}
		m[k] = l.Amount.String()
	}
	m["total"] = ch.Total.String()
	return m
}

// The worked examples of ../shared/billing/examples.md, each line exact.
func TestWorkedExamples(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	gib := int64(1024)
	a100 := Resources{CPU: 8, MemMiB: 64 * gib, Nodes: 1, Billing: 40, GPU: 2, GPUByType: map[string]int64{"a100": 2}}
	ex1 := job("alice", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 4, MemMiB: 16 * gib, Nodes: 1, Billing: 4}, 9000, "2026-10-10T12:00:00Z")
	ex1.CPUTimeMicros = 32400 * 1_000_000
	ex4 := job("carol", "physics", "gpu", "standby", "COMPLETED", a100, 10800, "2026-10-10T12:00:00Z")
	ex4.CPUTimeMicros = 21600 * 1_000_000
	ex6 := job("frank", "physics", "usage", "normal", "COMPLETED", Resources{CPU: 16, MemMiB: 4 * gib}, 3600, "2026-10-10T12:00:00Z")
	ex6.CPUTimeMicros = 14400 * 1_000_000
	ex9 := Usage{Cluster: "testbed", User: "alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED",
		Start: at("2026-10-14T23:00:00Z"), End: at("2026-10-15T01:00:00Z"), ElapsedSeconds: 7200, Requested: Resources{CPU: 1, MemMiB: gib}}
	pending := job("alice", "physics", "cpu", "normal", "CANCELLED", Resources{CPU: 1, MemMiB: gib}, 0, "2026-10-10T12:00:00Z")
	pending.Start = time.Time{}

	cases := []struct {
		name    string
		u       Usage
		want    map[string]string
		eff     string // efficiency in percent, "" to skip
		version int
	}{
		{"1 plain CPU job", ex1, map[string]string{"cpu": "0.200000", "mem": "0.200000", "total": "0.400000"}, "90%", 1},
		{"2 discount", job("bob", "chem", "cpu", "normal", "COMPLETED", Resources{CPU: 1, MemMiB: gib}, 4500, "2026-10-10T12:00:00Z"),
			map[string]string{"cpu": "0.022500", "mem": "0.005625", "total": "0.028125"}, "", 1},
		{"3 one tiny array task", job("dave", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 1, MemMiB: 512}, 720, "2026-10-05T12:00:00Z"),
			map[string]string{"cpu": "0.004000", "mem": "0.000500", "total": "0.004500"}, "", 1},
		{"4 typed GPU, standby", ex4, map[string]string{"cpu": "0.240000", "mem": "0.480000", "gpu:a100": "7.500000", "total": "8.220000"}, "25%", 1},
		{"5 core-equivalent max", job("erin", "physics", "bigmem", "normal", "COMPLETED", Resources{CPU: 2, MemMiB: 128 * gib}, 3600, "2026-10-10T12:00:00Z"),
			map[string]string{"cpu": "0.000000", "mem": "0.640000", "total": "0.640000"}, "", 1},
		{"6 CPU time used", ex6, map[string]string{"cpu_time": "0.120000", "total": "0.120000"}, "", 1},
		{"7 minimum charge", job("gina", "physics", "short", "normal", "COMPLETED", Resources{CPU: 1, MemMiB: 512}, 720, "2026-10-10T12:00:00Z"),
			map[string]string{"cpu": "0.004000", "mem": "0.000500", "minimum": "0.045500", "total": "0.050000"}, "", 1},
		{"8 node fail", job("alice", "physics", "cpu", "normal", "NODE_FAIL", Resources{CPU: 4}, 3600, "2026-10-10T12:00:00Z"),
			map[string]string{"total": "0.000000"}, "", 1},
		{"8 cancelled while pending", pending, map[string]string{"total": "0.000000"}, "", 0},
		{"8 debug QOS", job("alice", "physics", "cpu", "debug", "COMPLETED", Resources{CPU: 4, MemMiB: 4 * gib}, 3600, "2026-10-10T12:00:00Z"),
			map[string]string{"cpu": "0.000000", "mem": "0.000000", "total": "0.000000"}, "", 1},
		{"9 rate-card change", ex9, map[string]string{"cpu": "0.060000", "mem": "0.010000", "total": "0.070000"}, "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := r.Rate(tc.u)
			if err != nil {
				t.Fatal(err)
			}
			got := amounts(ch)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
			if tc.eff != "" && Ratio(ch.EfficiencyPPM).Percent() != tc.eff {
				t.Errorf("efficiency %s, want %s", Ratio(ch.EfficiencyPPM).Percent(), tc.eff)
			}
			if ch.RateCardVersion != tc.version {
				t.Errorf("rated with version %d, want %d", ch.RateCardVersion, tc.version)
			}
			var sum Micros
			for _, l := range ch.Lines {
				sum += l.Amount
			}
			if sum != ch.Total {
				t.Errorf("lines add to %s, total says %s", sum, ch.Total)
			}
		})
	}
	// Example 8: the pending job has no lines at all.
	if ch, _ := r.Rate(pending); len(ch.Lines) != 0 || ch.NotCharged == "" {
		t.Errorf("pending-cancelled job: %+v", ch)
	}
	// Example 2 on receipts: the discount's reason.
	if ch, _ := r.Rate(cases[1].u); ch.AccountReason != "departmental subsidy" {
		t.Errorf("reason %q", ch.AccountReason)
	}
}

// Examples 2 and 3: statements round each line once.
func TestStatementRounding(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	ch, _ := r.Rate(job("bob", "chem", "cpu", "normal", "COMPLETED", Resources{CPU: 1, MemMiB: 1024}, 4500, "2026-10-10T12:00:00Z"))
	pol := NewPolicy(HalfUp, nil)
	st := buildStatement(pol, "USD", []accountLines{{Account: "chem", Lines: ch.Lines}})[0]
	if len(st.Lines) != 2 || st.Lines[0].Amount.String() != "0.020000" || st.Lines[1].Amount.String() != "0.010000" || st.Total.String() != "0.030000" {
		t.Fatalf("example 2 statement: %+v", st)
	}

	tiny, _ := r.Rate(job("dave", "physics", "cpu", "normal", "COMPLETED", Resources{CPU: 1, MemMiB: 512}, 720, "2026-10-05T12:00:00Z"))
	jobs := make([]accountLines, 10000)
	for i := range jobs {
		jobs[i] = accountLines{Account: "physics", Lines: tiny.Lines}
	}
	st = buildStatement(pol, "USD", jobs)[0]
	if st.Lines[0].Amount.String() != "40.000000" || st.Lines[1].Amount.String() != "5.000000" || st.Total.String() != "45.000000" {
		t.Fatalf("example 3 statement: %+v", st)
	}
	if st.Lines[0].Jobs != 10000 || st.Jobs != 10000 {
		t.Errorf("jobs counted %d (line), %d (statement)", st.Lines[0].Jobs, st.Jobs)
	}
}

// Example 10: a job split across October and November.
func TestSplitAttribution(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	u := Usage{Cluster: "testbed", User: "alice", Account: "physics", Partition: "cpu", QOS: "normal", State: "COMPLETED",
		Start: at("2026-10-31T22:00:00Z"), End: at("2026-11-01T02:00:00Z"), ElapsedSeconds: 14400, Requested: Resources{CPU: 4, MemMiB: 4096}}
	nov := at("2026-11-01T00:00:00Z")
	oct, err := r.RatePortion(u, u.Start, nov, false)
	if err != nil {
		t.Fatal(err)
	}
	novc, _ := r.RatePortion(u, nov, u.End, true)
	want := map[string]string{"cpu": "0.240000", "mem": "0.040000", "total": "0.280000"}
	if fmt.Sprint(amounts(oct)) != fmt.Sprint(want) || fmt.Sprint(amounts(novc)) != fmt.Sprint(want) {
		t.Fatalf("october %v november %v", amounts(oct), amounts(novc))
	}
	whole, _ := r.Rate(u)
	if whole.Total.String() != "0.560000" || oct.Total+novc.Total != whole.Total {
		t.Fatalf("whole %s, parts %s + %s", whole.Total, oct.Total, novc.Total)
	}
}

// The estimator gives example 4's figure for the same request.
func TestEstimate(t *testing.T) {
	r := Rater{Cards: standardCards(t), Rounding: HalfUp}
	mem, _ := ParseMemory("64G")
	gpus, _ := ParseGPUs("a100:2")
	d, _ := ParseWalltime("03:00:00")
	ch, err := r.Estimate(EstimateInput{Partition: "gpu", QOS: "standby", Account: "physics", CPUs: 8, MemMiB: mem, GPUs: gpus,
		Duration: d, End: at("2026-10-10T12:00:00Z")})
	if err != nil || ch.Total.String() != "8.220000" {
		t.Fatalf("estimate %s %v", ch.Total, err)
	}
	for in, want := range map[string]time.Duration{"12:00:00": 12 * time.Hour, "1-00:00:00": 24 * time.Hour, "90": 90 * time.Minute, "2-12": 60 * time.Hour, "05:30": 5*time.Minute + 30*time.Second} {
		if got, err := ParseWalltime(in); err != nil || got != want {
			t.Errorf("walltime %q: %v %v", in, got, err)
		}
	}
	if _, err := ParseWalltime("soon"); err == nil {
		t.Error("bad time accepted")
	}
	if _, err := r.Estimate(EstimateInput{Partition: "nope", CPUs: 1, Duration: time.Hour, End: at("2026-10-10T12:00:00Z")}); err == nil {
		t.Error("unknown partition estimated")
	}
}

// accountLines are one job's charge lines with the account they bill.
type accountLines struct {
	Account string
	Lines   []Line
}

// buildStatement sums job lines per account and component and builds the
// statements from those sums, through BuildStatements as production does.
func buildStatement(p Policy, currency string, jobs []accountLines) []Statement {
	type key struct{ account, component string }
	sums := map[key]*ChargeSum{}
	var order []key
	add := func(k key, amount Micros, newJob bool) {
		s := sums[k]
		if s == nil {
			s = &ChargeSum{Account: k.account, Currency: currency, Component: k.component}
			sums[k] = s
			order = append(order, k)
		}
		s.Exact += amount
		if newJob {
			s.Jobs++
		}
	}
	for _, j := range jobs {
		seen := map[string]bool{}
		for _, l := range j.Lines {
			add(key{j.Account, l.Component}, l.Amount, !seen[l.Component])
			seen[l.Component] = true
		}
		if len(j.Lines) > 0 {
			add(key{j.Account, ""}, 0, true)
		}
	}
	out := make([]ChargeSum, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return p.BuildStatements(out)
}
