package slurm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"time"
)

// Job is one job accounting record, normalised from any slurmrestd API
// version or from sacct. A requeued job yields one Job per attempt; the
// identity of a record is (Cluster, JobID, Submit).
type Job struct {
	Cluster     string
	JobID       int64 // the unique raw id (sacct JobIDRaw)
	ArrayJobID  int64 // 0 unless an array task
	ArrayTaskID *int64
	HetJobID    int64 // 0 unless a heterogeneous job component
	HetOffset   *int64

	Name      string
	User      string
	Account   string
	Partition string
	QOS       string

	State      string // COMPLETED, FAILED, TIMEOUT, CANCELLED, RUNNING, REQUEUED, ...
	Reason     string
	ExitCode   *int // nil when the source cannot say (slurmdb v0.0.36-39 normal exits)
	ExitSignal int

	Submit   time.Time
	Eligible time.Time
	Start    time.Time // zero if it never started
	End      time.Time // zero while running

	ElapsedSeconds   int64
	TimeLimitMinutes *int64 // nil for none or unlimited
	SuspendedSeconds int64
	CPUTimeMicros    int64 // user+system, summed over steps as sacct does

	Requested TRES
	Allocated TRES

	NodeList  string
	StepCount int
	Steps     []Step
}

// TRES holds the trackable resources of a job as typed counts.
type TRES struct {
	CPU       int64
	MemMiB    int64 // Slurm's "MB" are MiB
	Nodes     int64
	Billing   int64
	EnergyJ   int64
	GPU       int64            // all GPUs, typed or not, counted once
	GPUByType map[string]int64 // "a100" -> 2, from gres/gpu:a100
}

// Step is one job step (batch, extern, 0, 1, ...).
type Step struct {
	ID             string `json:"id"`
	Name           string `json:"name,omitempty"`
	State          string `json:"state"`
	ExitCode       *int   `json:"exit_code,omitempty"`
	Start          int64  `json:"start,omitempty"` // unix seconds
	End            int64  `json:"end,omitempty"`
	ElapsedSeconds int64  `json:"elapsed"`
	CPUTimeMicros  int64  `json:"cpu_us"`
	Tasks          int64  `json:"tasks,omitempty"`
	NodeList       string `json:"nodes,omitempty"`
}

// Key identifies a record across sources and re-ingests.
type Key struct {
	Cluster string
	JobID   int64
	Submit  int64 // unix seconds
}

// Key returns the record's identity.
func (j *Job) Key() Key { return Key{j.Cluster, j.JobID, j.Submit.Unix()} }

// Ended reports whether the job has reached a final state.
func (j *Job) Ended() bool { return !j.End.IsZero() && j.State != "RUNNING" && j.State != "PENDING" }

// normalizeState reads "CANCELLED by 1003" as CANCELLED and upper-cases.
func normalizeState(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}

// Hash fingerprints the record's content, so re-ingesting an unchanged job
// writes nothing.
func (j *Job) Hash() string {
	// One buffer, hashed once: the field-by-field writes into a hash.Hash
	// cost an allocation per string and were a tenth of an ingest's
	// building time. The byte stream is unchanged, and so is every stored
	// hash (TestHashIsStable).
	var stack [512]byte
	b := stack[:0]
	w := func(s string) { b = append(b, s...); b = append(b, 0) }
	n := func(v int64) { b = binary.LittleEndian.AppendUint64(b, uint64(v)) }
	opt := func(p *int64) {
		if p == nil {
			n(-1 << 62)
		} else {
			n(*p)
		}
	}
	tm := func(t time.Time) {
		if t.IsZero() {
			n(0)
		} else {
			n(t.Unix())
		}
	}
	w(j.Cluster)
	n(j.JobID)
	n(j.ArrayJobID)
	opt(j.ArrayTaskID)
	n(j.HetJobID)
	opt(j.HetOffset)
	for _, s := range [...]string{j.Name, j.User, j.Account, j.Partition, j.QOS, j.State, j.Reason, j.NodeList} {
		w(s)
	}
	if j.ExitCode == nil {
		n(-1 << 62)
	} else {
		n(int64(*j.ExitCode))
	}
	n(int64(j.ExitSignal))
	for _, t := range [...]time.Time{j.Submit, j.Eligible, j.Start, j.End} {
		tm(t)
	}
	n(j.ElapsedSeconds)
	opt(j.TimeLimitMinutes)
	n(j.SuspendedSeconds)
	n(j.CPUTimeMicros)
	for _, t := range [...]*TRES{&j.Requested, &j.Allocated} {
		for _, v := range [...]int64{t.CPU, t.MemMiB, t.Nodes, t.Billing, t.EnergyJ, t.GPU} {
			n(v)
		}
		switch len(t.GPUByType) {
		case 0:
		case 1:
			for k, v := range t.GPUByType {
				w(k)
				n(v)
			}
		default:
			types := make([]string, 0, len(t.GPUByType))
			for k := range t.GPUByType {
				types = append(types, k)
			}
			sort.Strings(types)
			for _, k := range types {
				w(k)
				n(t.GPUByType[k])
			}
		}
	}
	n(int64(j.StepCount))
	for _, s := range j.Steps {
		w(s.ID)
		w(s.Name)
		w(s.State)
		if s.ExitCode != nil {
			n(int64(*s.ExitCode))
		}
		n(s.Start)
		n(s.End)
		n(s.ElapsedSeconds)
		n(s.CPUTimeMicros)
		n(s.Tasks)
		w(s.NodeList)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// add records one TRES entry by type and name, as both slurmrestd and
// sacct name them: cpu, mem, node, billing, energy, gres/gpu, gres/gpu:a100.
func (t *TRES) add(typ, name string, count int64) {
	// Slurm reports energy it did not measure as -2 (NO_VAL): none. Any
	// other negative count is kept for Job.Implausible to hold back.
	if count < 0 && typ == "energy" {
		return
	}
	switch typ {
	case "cpu":
		t.CPU = count
	case "mem":
		t.MemMiB = count
	case "node":
		t.Nodes = count
	case "billing":
		t.Billing = count
	case "energy":
		t.EnergyJ = count
	case "gres":
		switch {
		case name == "gpu":
			t.GPU = count
		case strings.HasPrefix(name, "gpu:"):
			if t.GPUByType == nil {
				t.GPUByType = map[string]int64{}
			}
			t.GPUByType[strings.TrimPrefix(name, "gpu:")] = count
		}
	}
}

// finish reconciles typed and untyped GPU counts: a typed GPU appears both
// as gres/gpu and gres/gpu:a100 and is counted once.
func (t *TRES) finish() {
	var typed int64
	for _, c := range t.GPUByType {
		// Saturate rather than wrap: an absurd count must stay absurd for
		// the plausibility checks to reject.
		if c > 0 && typed > math.MaxInt64-c {
			typed = math.MaxInt64
		} else {
			typed += c
		}
	}
	if t.GPU == 0 {
		t.GPU = typed
	}
}
