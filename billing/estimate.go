package billing

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EstimateInput describes a job someone is thinking of submitting.
type EstimateInput struct {
	Cluster   string
	Partition string
	Account   string
	QOS       string
	CPUs      int64
	MemMiB    int64
	Nodes     int64
	GPUs      map[string]int64 // type -> count; "" for untyped
	Duration  time.Duration
	// CPUTime is the CPU time it would use, for cards that price
	// cpu_time. 0: CPUEfficiencyPPM of CPUs × Duration, and with that 0
	// too, all of it (ExpectedCPUTime).
	CPUTime time.Duration
	// CPUEfficiencyPPM is the share of its CPUs × Duration it would keep
	// busy, in millionths (1 to 1,000,000; 0: not given).
	CPUEfficiencyPPM int64
	End              time.Time // whose rate card applies

	// Typed marks what a person typed (the estimate page, tally
	// estimate), not a stored job: a GPU type, QOS or account the card
	// would price generically is refused, as a typo would otherwise come
	// back as a confident, wrong price.
	Typed bool
	// AccountKnown is the caller's finding that Slurm knows Account (its
	// associations or jobs name it); read only for typed input.
	AccountKnown bool
}

// DefaultQOS is the QOS Slurm creates at installation and gives jobs that
// ask for none: an estimate may name it although a card lists no
// multiplier for it (it is then priced at 1, as for a stored job).
const DefaultQOS = "normal"

// Estimate prices a hypothetical job as if it ran to its full duration.
func (rt Rater) Estimate(in EstimateInput) (Charge, error) {
	if in.Duration <= 0 {
		return Charge{}, Invalidf("give the job's time, such as 12:00:00")
	}
	if in.CPUs <= 0 {
		in.CPUs = 1
	}
	if in.Nodes <= 0 {
		in.Nodes = 1
	}
	if in.End.IsZero() {
		in.End = time.Now()
	}
	if err := in.plausible(); err != nil {
		return Charge{}, err
	}
	if in.Typed {
		if err := in.known(rt.Cards.InForce(in.Cluster, in.End)); err != nil {
			return Charge{}, err
		}
	}
	res := Resources{CPU: in.CPUs, MemMiB: in.MemMiB, Nodes: in.Nodes}
	for t, n := range in.GPUs {
		res.GPU += n
		if t != "" {
			if res.GPUByType == nil {
				res.GPUByType = map[string]int64{}
			}
			res.GPUByType[t] += n
		}
	}
	secs := int64(in.Duration / time.Second)
	cpuMicros, err := in.ExpectedCPUMicros()
	if err != nil {
		return Charge{}, err
	}
	u := Usage{Cluster: in.Cluster, Account: in.Account, Partition: in.Partition, QOS: in.QOS, State: "COMPLETED",
		Start: in.End.Add(-time.Duration(secs) * time.Second), End: in.End, ElapsedSeconds: secs,
		CPUTimeMicros: cpuMicros, Requested: res, Allocated: res}
	return rt.Rate(u)
}

// FullUseEfficiencyPPM is the CPU efficiency an estimate assumes when
// none is given: every CPU asked for busy for the whole time, the most
// a job can use, so a card that prices cpu_time is never under-estimated.
const FullUseEfficiencyPPM = 1_000_000

// maxCPUMicros is the most CPU time a record holds (int64 microseconds).
const maxCPUMicros = math.MaxInt64

// ExpectedCPUMicros is the CPU time, in microseconds, an estimate prices
// (the one rule, for the page, the API and tally estimate): CPUTime when
// given, else CPUEfficiencyPPM (by default FullUseEfficiencyPPM) of CPUs ×
// Duration. CPUs below 1 count as 1, as Estimate counts them.
func (in EstimateInput) ExpectedCPUMicros() (int64, error) {
	if in.CPUTime > 0 {
		return int64(in.CPUTime / time.Microsecond), nil
	}
	eff := in.CPUEfficiencyPPM
	if eff == 0 {
		eff = FullUseEfficiencyPPM
	}
	if eff < 0 || eff > 1_000_000 {
		return 0, Invalidf("CPU efficiency: give a share from 1 to 100 %%")
	}
	cpus := max(in.CPUs, 1)
	secs := int64(in.Duration / time.Second)
	// CPU-seconds × efficiency (ppm) is CPU time in microseconds; refused
	// rather than wrapped past what a record can hold (about 292,000
	// CPU-years, far beyond any real job).
	if secs > 0 && cpus > maxCPUMicros/1_000_000/secs {
		return 0, Invalidf("CPUs × time: more CPU time than Tally can price; give fewer CPUs or a shorter time")
	}
	return cpus * secs * eff, nil
}

// plausible holds the input to the limits ingest holds Slurm's records to,
// so no sum or product below can wrap.
func (in EstimateInput) plausible() error {
	switch {
	case in.Duration > MaxPlausibleElapsed*time.Second:
		return Invalidf("time: at most %s (five years)", formatWalltime(MaxPlausibleElapsed))
	case in.CPUs > MaxPlausibleCPUs:
		return Invalidf("CPUs: at most %d", MaxPlausibleCPUs)
	case in.Nodes > MaxPlausibleCPUs:
		// Every node holds at least one of the job's CPUs.
		return Invalidf("nodes: at most %d", MaxPlausibleCPUs)
	case in.MemMiB < 0:
		return Invalidf("memory: give a size such as 64G, not a negative one")
	case in.MemMiB > MaxPlausibleMemMiB:
		return Invalidf("memory: at most %dT", MaxPlausibleMemMiB>>20)
	case in.CPUTime < 0:
		return Invalidf("CPU time: give a time such as 90:00:00, not a negative one")
	}
	var gpus int64
	for _, n := range in.GPUs {
		if n < 0 {
			return Invalidf("GPUs: give counts of 0 or more")
		}
		if n > MaxPlausibleGPUs-gpus {
			return Invalidf("GPUs: at most %d in all", MaxPlausibleGPUs)
		}
		gpus += n
	}
	return nil
}

// known refuses the names in typed input that card would not price as
// named: a GPU type it has no price for, a QOS it has no multiplier for,
// an account neither Slurm nor the card knows. With no card in force,
// rating says so.
func (in EstimateInput) known(card *RateCard) error {
	if card == nil {
		return nil
	}
	if in.Account != "" && !in.AccountKnown {
		_, discount := card.Accounts[in.Account]
		_, prices := card.AccountPrices[in.Account]
		if !discount && !prices {
			return Invalidf("account %q is unknown: no Slurm association or job names it", in.Account)
		}
	}
	if _, ok := card.QOS[in.QOS]; !ok && in.QOS != "" && in.QOS != DefaultQOS {
		names := []string{DefaultQOS}
		for q := range card.QOS {
			if q != DefaultQOS {
				names = append(names, q)
			}
		}
		sort.Strings(names[1:])
		return Invalidf("QOS %q: rate card %s v%d knows %s", in.QOS, card.Name, card.Version, strings.Join(names, ", "))
	}
	types := map[string]bool{}
	add := func(p Prices) {
		for t := range p.GPUTypes {
			types[t] = true
		}
	}
	for _, p := range card.Partitions {
		add(p)
	}
	for _, ap := range card.AccountPrices {
		for _, p := range ap {
			add(p)
		}
	}
	for t, n := range in.GPUs {
		if t == "" || n == 0 || types[t] {
			continue
		}
		if len(types) == 0 {
			return Invalidf("GPU type %q: rate card %s v%d prices no GPU types; give a count alone, such as 2", t, card.Name, card.Version)
		}
		names := make([]string, 0, len(types))
		for k := range types {
			names = append(names, k)
		}
		sort.Strings(names)
		return Invalidf("GPU type %q: rate card %s v%d prices %s; give one of those, or a count alone", t, card.Name, card.Version, strings.Join(names, ", "))
	}
	return nil
}

// ParseMemory reads Slurm-style sizes: 64G, 512M, 1T, also 64GB (MiB by
// default). A size past MaxPlausibleMemMiB is refused before it is
// multiplied out, so none can wrap.
func ParseMemory(s string) (int64, error) {
	in := strings.TrimSpace(s)
	bad := Invalidf("memory %q: want a size such as 64G or 512M", in)
	u := strings.ToUpper(in)
	if u == "" {
		return 0, nil
	}
	unit := u[len(u)-1]
	if unit == 'B' && len(u) > 1 && strings.IndexByte("KMGT", u[len(u)-2]) >= 0 {
		u, unit = u[:len(u)-1], u[len(u)-2]
	}
	mult := int64(1)
	switch unit {
	case 'K':
		return 0, Invalidf("memory %q: use M, G or T", in)
	case 'M':
		u = u[:len(u)-1]
	case 'G':
		mult, u = 1<<10, u[:len(u)-1]
	case 'T':
		mult, u = 1<<20, u[:len(u)-1]
	}
	if u == "" || u[0] < '0' || u[0] > '9' {
		return 0, bad
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil && !isRange(err) {
		return 0, bad
	}
	if err != nil || n > MaxPlausibleMemMiB/mult {
		return 0, Invalidf("memory %q: at most %dT", in, MaxPlausibleMemMiB>>20)
	}
	return n * mult, nil
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// ParseGPUs reads "2", "a100:2" or "a100:1,v100:2"; counts add up to at
// most MaxPlausibleGPUs.
func ParseGPUs(s string) (map[string]int64, error) {
	out := map[string]int64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var total int64
	for _, part := range strings.Split(s, ",") {
		typ, count, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			typ, count = "", typ
		}
		n, err := strconv.ParseInt(count, 10, 64)
		if (err != nil && !isRange(err)) || n < 0 || count == "" || count[0] < '0' || count[0] > '9' {
			return nil, Invalidf("GPUs %q: want a count or type:count such as a100:2", s)
		}
		if err != nil || n > MaxPlausibleGPUs-total {
			return nil, Invalidf("GPUs %q: at most %d in all", s, MaxPlausibleGPUs)
		}
		total += n
		out[typ] += n
	}
	return out, nil
}

// ParseWalltime reads Slurm's time formats: minutes, MM:SS, HH:MM:SS,
// D-HH, D-HH:MM, D-HH:MM:SS; at most MaxPlausibleElapsed.
func ParseWalltime(s string) (time.Duration, error) {
	secs, err := parseSlurmTime(s, MaxPlausibleElapsed, "time")
	return time.Duration(secs) * time.Second, err
}

// maxDurationSeconds is the longest time.Duration in whole seconds.
const maxDurationSeconds = math.MaxInt64 / int64(time.Second)

// ParseCPUTime reads a CPU time in Slurm's time formats. It is not held
// to MaxPlausibleElapsed (many cores use years of CPU time in a week),
// only to what a time.Duration holds.
func ParseCPUTime(s string) (time.Duration, error) {
	secs, err := parseSlurmTime(s, maxDurationSeconds, "CPU time")
	return time.Duration(secs) * time.Second, err
}

// parseSlurmTime returns seconds, at most max. Every field is held to max
// before it is multiplied out, and max times a day fits 64 bits for any
// max in use, so no form can wrap.
func parseSlurmTime(s string, max int64, what string) (int64, error) {
	s = strings.TrimSpace(s)
	bad := Invalidf("%s %q: want a Slurm time such as 12:00:00 or 1-00:00:00", what, s)
	tooLong := Invalidf("%s %q: at most %s", what, s, formatWalltime(max))
	if s == "" {
		return 0, bad
	}
	field := func(p string) (int64, error) {
		if p == "" || p[0] < '0' || p[0] > '9' {
			return 0, bad
		}
		n, err := strconv.ParseInt(p, 10, 64)
		switch {
		case err != nil && !isRange(err):
			return 0, bad
		case err != nil || n > max:
			return 0, tooLong
		}
		return n, nil
	}
	var days int64
	hasDays := false
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := field(d)
		if err != nil {
			return 0, err
		}
		days, s, hasDays = n, rest, true
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, bad
	}
	nums := make([]int64, len(parts))
	for i, p := range parts {
		n, err := field(p)
		if err != nil {
			return 0, err
		}
		nums[i] = n
	}
	// Each term is at most max × 86400 and there are four: with max no
	// more than maxDurationSeconds (about 2^33) the sum stays below 2^63.
	var secs int64
	switch {
	case hasDays && len(nums) == 1:
		secs = nums[0] * 3600
	case hasDays && len(nums) == 2:
		secs = nums[0]*3600 + nums[1]*60
	case hasDays && len(nums) == 3:
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	case len(nums) == 1:
		secs = nums[0] * 60
	case len(nums) == 2:
		secs = nums[0]*60 + nums[1]
	case len(nums) == 3:
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	}
	secs += days * 86400
	if secs > max {
		return 0, tooLong
	}
	return secs, nil
}

// formatWalltime prints seconds as Slurm's D-HH:MM:SS.
func formatWalltime(secs int64) string {
	return strconv.FormatInt(secs/86400, 10) + "-" + two(secs%86400/3600) + ":" + two(secs%3600/60) + ":" + two(secs%60)
}

func two(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// ParseEfficiency reads a CPU efficiency as typed, a percentage such as
// 75, 75% or 12.5, into millionths (exactly: at most four decimals).
// Empty is 0 (not given).
func ParseEfficiency(s string) (int64, error) {
	in := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if in == "" {
		return 0, nil
	}
	bad := Invalidf("CPU efficiency %q: give a percentage from 1 to 100, such as 75", strings.TrimSpace(s))
	whole, frac, _ := strings.Cut(in, ".")
	if whole == "" || len(whole) > 3 || len(frac) > 4 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, bad
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "0000")[:4], 10, 64)
	ppm := w*10_000 + f
	if ppm <= 0 || ppm > 1_000_000 {
		return 0, bad
	}
	return ppm, nil
}
