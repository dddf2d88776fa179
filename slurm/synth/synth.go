// Package synth generates a believable Slurm cluster's job records,
// deterministically from a seed: for the demo, tests and benchmarks. It
// writes them as sacct prints them and as slurmrestd answers them.
package synth

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// Config sizes the synthetic cluster.
type Config struct {
	Seed       int64
	From, To   time.Time
	JobsPerDay int
	Cluster    string
	Users      []User // default: DefaultUsers()
	// Partitions and QOS levels by name; defaults cpu, gpu, bigmem, short
	// and normal, standby, debug. Partitions named *gpu* have typed GPUs;
	// the first QOS is the common one.
	Partitions []string
	QOS        []string
	// GPUTypes are the GPU types of the *gpu* partitions, drawn evenly;
	// default a100 (twice as often) and v100.
	GPUTypes []string
	// FirstJobID numbers the jobs (default 1000); a run continuing an
	// earlier one starts after its last id.
	FirstJobID int64
}

// User is a person with the accounts they may charge (first is default).
type User struct {
	Name     string
	Accounts []string
}

// MakeUsers builds n users over m accounts, deterministic: the default mix
// first, then user013, user014, ... spread over the accounts.
func MakeUsers(n, m int) []User {
	accounts := []string{"physics", "chem", "bio", "astro", "cs"}
	for i := len(accounts); i < m; i++ {
		accounts = append(accounts, fmt.Sprintf("acct%02d", i+1))
	}
	if m > 0 && m < len(accounts) {
		accounts = accounts[:m]
	}
	in := func(a string) bool {
		for _, x := range accounts {
			if x == a {
				return true
			}
		}
		return false
	}
	var out []User
	for _, u := range DefaultUsers() {
		var keep []string
		for _, a := range u.Accounts {
			if in(a) {
				keep = append(keep, a)
			}
		}
		if len(keep) == 0 {
			keep = []string{accounts[len(out)%len(accounts)]}
		}
		out = append(out, User{Name: u.Name, Accounts: keep})
	}
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	for i := len(out); i < n; i++ {
		a := accounts[i%len(accounts)]
		b := accounts[(i*7+3)%len(accounts)]
		accts := []string{a}
		if b != a && i%3 == 0 {
			accts = append(accts, b)
		}
		out = append(out, User{Name: fmt.Sprintf("user%03d", i+1), Accounts: accts})
	}
	return out
}

// DefaultUsers is a mid-size research group mix.
func DefaultUsers() []User {
	return []User{
		{"alice", []string{"physics", "chem"}}, {"bob", []string{"chem"}}, {"carol", []string{"physics"}},
		{"dave", []string{"physics"}}, {"erin", []string{"astro"}}, {"frank", []string{"bio", "chem"}},
		{"grace", []string{"bio"}}, {"heidi", []string{"astro", "physics"}}, {"ivan", []string{"cs"}},
		{"judy", []string{"cs", "bio"}}, {"mallory", []string{"chem"}}, {"oscar", []string{"astro"}},
	}
}

type partition struct {
	name    string
	weight  int
	gpu     bool
	memPer  int64 // MiB per CPU, typical
	maxCPUs int64
	// gpuTypes of a gpu partition, drawn evenly; default defaultGPUTypes.
	gpuTypes []string
}

func defaultGPUTypes() []string { return []string{"a100", "a100", "v100"} }

func defaultPartitions() []partition {
	return []partition{{name: "cpu", weight: 64, memPer: 2048, maxCPUs: 64}, {name: "gpu", weight: 16, gpu: true, memPer: 8192, maxCPUs: 32},
		{name: "bigmem", weight: 6, memPer: 32768, maxCPUs: 32}, {name: "short", weight: 14, memPer: 1024, maxCPUs: 8}}
}

// partitionsFor shapes named partitions like the default ones.
func partitionsFor(names []string) []partition {
	if len(names) == 0 {
		return defaultPartitions()
	}
	var out []partition
	for i, n := range names {
		p := partition{name: n, weight: 10, memPer: 2048, maxCPUs: 64}
		switch {
		case strings.Contains(n, "gpu"):
			p.gpu, p.memPer, p.maxCPUs, p.weight = true, 8192, 32, 6
		case strings.Contains(n, "mem"):
			p.memPer, p.maxCPUs, p.weight = 32768, 32, 3
		case strings.Contains(n, "short") || strings.Contains(n, "debug"):
			p.memPer, p.maxCPUs, p.weight = 1024, 8, 5
		}
		if i == 0 {
			p.weight = 30
		}
		out = append(out, p)
	}
	return out
}

func jobNames() []string {
	return []string{"relax", "md-run", "train", "analysis", "postproc", "sweep", "blast", "cfd", "qmc", "render",
		"fit, v2", `scan "final"`, "résumé-étude", "数据处理", "snap_α", "=calc", "job with spaces"}
}

// Generate calls fn for every job record, ordered by submit time.
func Generate(cfg Config, fn func(slurm.Job) error) error {
	if cfg.JobsPerDay <= 0 {
		cfg.JobsPerDay = 300
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "demo"
	}
	users := cfg.Users
	if len(users) == 0 {
		users = DefaultUsers()
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	parts := partitionsFor(cfg.Partitions)
	if len(cfg.GPUTypes) > 0 {
		for i := range parts {
			parts[i].gpuTypes = cfg.GPUTypes
		}
	}
	emit := fn
	fn = func(j slurm.Job) error { return emit(asOf(j, cfg.To)) }
	qos := cfg.QOS
	if len(qos) == 0 {
		qos = []string{"normal", "standby", "debug"}
	}
	nextID := cfg.FirstJobID
	if nextID <= 0 {
		nextID = 1000
	}
	// Day by day, so millions of jobs a day need memory for one day only.
	for day := cfg.From; day.Before(cfg.To); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(cfg.To) {
			end = cfg.To
		}
		span := end.Sub(day)
		total := int(float64(cfg.JobsPerDay) * span.Hours() / 24)
		subs := make([]time.Time, total)
		for i := range subs {
			subs[i] = day.Add(time.Duration(rng.Int63n(int64(span/time.Second))) * time.Second)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].Before(subs[j]) })
		if err := generateDay(cfg, rng, parts, qos, users, subs, &nextID, fn); err != nil {
			return err
		}
	}
	return nil
}

func generateDay(cfg Config, rng *rand.Rand, parts []partition, qos []string, users []User, subs []time.Time, nextID *int64, fn func(slurm.Job) error) error {
	for i := range subs {
		sub := subs[i]
		u := users[weighted(rng, len(users))]
		account := u.Accounts[0]
		if len(u.Accounts) > 1 && rng.Intn(4) == 0 {
			account = u.Accounts[1+rng.Intn(len(u.Accounts)-1)]
		}
		p := pickPartition(rng, parts)
		base := slurm.Job{Cluster: cfg.Cluster, User: u.Name, Account: account, Partition: p.name, Submit: sub.UTC().Truncate(time.Second)}
		base.QOS = qos[0]
		if r := rng.Intn(100); r < 20 && len(qos) > 1 {
			base.QOS = qos[1+r%(len(qos)-1)]
		}
		names := jobNames()
		base.Name = names[rng.Intn(len(names))]
		if rng.Intn(20) == 0 {
			// An array of tasks sharing everything but their id.
			n := 5 + rng.Intn(40)
			arrayID := *nextID
			for t := 0; t < n; t++ {
				j := base
				j.JobID = *nextID
				*nextID++
				task := int64(t)
				j.ArrayJobID, j.ArrayTaskID = arrayID, &task
				shape(rng, &j, p, true)
				if err := fn(j); err != nil {
					return err
				}
			}
			continue
		}
		j := base
		j.JobID = *nextID
		*nextID++
		shape(rng, &j, p, false)
		if j.State == "REQUEUED" {
			// The first attempt is requeued; the rerun is its own record.
			again := base
			again.JobID = j.JobID
			again.Submit = j.End
			shape(rng, &again, p, false)
			if again.State == "REQUEUED" {
				again.State = "COMPLETED"
			}
			// Unless the requeue is still to come: then the first
			// attempt is all there is (running), and no rerun is
			// submitted in the future under the same id. (The rerun is
			// drawn all the same, so the jobs after it stay as they were.)
			if cfg.To.IsZero() || !j.End.After(cfg.To) {
				if err := fn(j); err != nil {
					return err
				}
				j = again
			}
		}
		if err := fn(j); err != nil {
			return err
		}
	}
	return nil
}

// weighted prefers low indexes: a few heavy users, a long tail.
func weighted(rng *rand.Rand, n int) int {
	i := int(math.Abs(rng.NormFloat64()) * float64(n) / 2.5)
	if i >= n {
		i = rng.Intn(n)
	}
	return i
}

func pickPartition(rng *rand.Rand, parts []partition) partition {
	total := 0
	for _, p := range parts {
		total += p.weight
	}
	r := rng.Intn(total)
	for _, p := range parts {
		if r < p.weight {
			return p
		}
		r -= p.weight
	}
	return parts[0]
}

// shape fills sizes, times, state, steps and CPU use.
func shape(rng *rand.Rand, j *slurm.Job, p partition, small bool) {
	cpus := int64(1) << uint(rng.Intn(7)) // 1..64, skewed small below
	if rng.Intn(3) > 0 || small {
		cpus = int64(1) << uint(rng.Intn(3))
	}
	if cpus > p.maxCPUs {
		cpus = p.maxCPUs
	}
	mem := cpus * p.memPer * int64(1+rng.Intn(2))
	limit := int64([]int{30, 60, 240, 720, 1440, 2880}[rng.Intn(6)])
	if p.name == "short" {
		limit = 30
	}
	j.TimeLimitMinutes = &limit
	j.Requested = slurm.TRES{CPU: cpus, MemMiB: mem, Nodes: 1, Billing: cpus}
	if p.gpu {
		n := int64(1 + rng.Intn(4))
		types := p.gpuTypes
		if len(types) == 0 {
			types = defaultGPUTypes()
		}
		typ := types[rng.Intn(len(types))]
		j.Requested.GPU = n
		j.Requested.GPUByType = map[string]int64{typ: n}
		j.Requested.Billing = cpus + 10*n
	}
	wait := time.Duration(rng.ExpFloat64()*600) * time.Second
	j.Eligible = j.Submit
	start := j.Submit.Add(wait).Truncate(time.Second)
	// Heavy-tailed run times: log-normal around 20 minutes.
	run := int64(math.Exp(rng.NormFloat64()*1.4+math.Log(1200))) + 1
	j.State = "COMPLETED"
	exit := 0
	switch r := rng.Intn(1000); {
	case r < 80:
		j.State, exit = "FAILED", 1+rng.Intn(3)
	case r < 120:
		j.State, run = "TIMEOUT", limit*60
	case r < 150:
		j.State = "CANCELLED"
		j.ExitSignal = 15
	case r < 165:
		j.State, run = "CANCELLED", 0 // cancelled while pending
	case r < 185:
		j.State, exit = "OUT_OF_MEMORY", 0
	case r < 190:
		j.State = "NODE_FAIL"
	case r < 195:
		j.State = "REQUEUED"
	}
	if run > limit*60 {
		run, j.State, exit = limit*60, "TIMEOUT", 0
	}
	j.ExitCode = &exit
	if j.State == "CANCELLED" && run == 0 {
		// Never ran: start = end = submit, no steps, nothing allocated.
		j.Start, j.End, j.ElapsedSeconds = j.Submit, j.Submit, 0
		j.Requested.Billing = j.Requested.CPU
		return
	}
	j.Start = start
	j.End = start.Add(time.Duration(run) * time.Second)
	j.ElapsedSeconds = run
	j.Allocated = j.Requested
	j.NodeList = "node" + string(rune('0'+rng.Intn(10))) + string(rune('0'+rng.Intn(10)))
	// CPU efficiency: mostly decent, some idle-heavy jobs.
	eff := 0.5 + rng.Float64()*0.48
	if rng.Intn(12) == 0 {
		eff = rng.Float64() * 0.1
	}
	cpuUs := int64(float64(run*cpus) * eff * 1e6)
	steps := 1 + rng.Intn(3)
	j.Steps = nil
	for s := 0; s < steps; s++ {
		id := "batch"
		name := "batch"
		if s > 0 {
			id, name = string(rune('0'+s-1)), j.Name
		}
		st := slurm.Step{ID: id, Name: name, State: j.State, ExitCode: j.ExitCode, Start: j.Start.Unix(), End: j.End.Unix(),
			ElapsedSeconds: run, CPUTimeMicros: cpuUs / int64(steps) / 1000 * 1000, Tasks: 1, NodeList: j.NodeList}
		if st.State == "TIMEOUT" || st.State == "REQUEUED" {
			st.State = "CANCELLED"
		}
		j.Steps = append(j.Steps, st)
	}
	j.StepCount = len(j.Steps)
	for _, s := range j.Steps {
		j.CPUTimeMicros += s.CPUTimeMicros
	}
}

// asOf is the job as slurmdbd records it at time now: a job that would end
// after now is still running (no end time), one that would start after now
// still pending. The generator never writes an end time in the future.
func asOf(j slurm.Job, now time.Time) slurm.Job {
	if now.IsZero() || !j.End.After(now) {
		return j
	}
	j.End, j.Steps, j.StepCount, j.CPUTimeMicros, j.ExitCode = time.Time{}, nil, 0, 0, nil
	if j.Start.After(now) {
		j.State, j.Start, j.ElapsedSeconds, j.NodeList = "PENDING", time.Time{}, 0, ""
		j.Allocated = slurm.TRES{}
		return j
	}
	j.State = "RUNNING"
	j.ElapsedSeconds = int64(now.Sub(j.Start) / time.Second)
	return j
}
