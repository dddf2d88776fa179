package billing

import (
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
	CPUTime   time.Duration // CPU time it would use (0: none given)
	End       time.Time     // whose rate card applies
}

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
	u := Usage{Cluster: in.Cluster, Account: in.Account, Partition: in.Partition, QOS: in.QOS, State: "COMPLETED",
		Start: in.End.Add(-time.Duration(secs) * time.Second), End: in.End, ElapsedSeconds: secs,
		CPUTimeMicros: int64(in.CPUTime / time.Microsecond), Requested: res, Allocated: res}
	return rt.Rate(u)
}

// ParseMemory reads Slurm-style sizes: 64G, 512M, 1T (MiB by default).
func ParseMemory(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'K':
		return 0, Invalidf("memory %q: use M, G or T", s)
	case 'M':
		s = s[:len(s)-1]
	case 'G':
		mult, s = 1024, s[:len(s)-1]
	case 'T':
		mult, s = 1024*1024, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
	if err != nil || n < 0 {
		return 0, Invalidf("memory %q: want a size such as 64G or 512M", s)
	}
	return n * mult, nil
}

// ParseGPUs reads "2", "a100:2" or "a100:1,v100:2".
func ParseGPUs(s string) (map[string]int64, error) {
	out := map[string]int64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		typ, count, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			typ, count = "", typ
		}
		n, err := strconv.ParseInt(count, 10, 64)
		if err != nil || n < 0 {
			return nil, Invalidf("GPUs %q: want a count or type:count such as a100:2", s)
		}
		out[typ] += n
	}
	return out, nil
}

// ParseWalltime reads Slurm's time formats: minutes, MM:SS, HH:MM:SS,
// D-HH, D-HH:MM, D-HH:MM:SS.
func ParseWalltime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := Invalidf("time %q: want a Slurm time such as 12:00:00 or 1-00:00:00", s)
	if s == "" {
		return 0, bad
	}
	var days int64
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	nums := make([]int64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		nums[i] = n
	}
	var secs int64
	switch {
	case days > 0 && len(nums) == 1:
		secs = nums[0] * 3600
	case days > 0 && len(nums) == 2:
		secs = nums[0]*3600 + nums[1]*60
	case days > 0 && len(nums) == 3:
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	case len(nums) == 1:
		secs = nums[0] * 60
	case len(nums) == 2:
		secs = nums[0]*60 + nums[1]
	case len(nums) == 3:
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	default:
		return 0, bad
	}
	return time.Duration(days*86400+secs) * time.Second, nil
}
