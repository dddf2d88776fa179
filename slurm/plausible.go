package slurm

import (
	"fmt"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// Implausible says why a record cannot be billed as it stands, or "" when
// it can. Such records are kept out of the jobs table and recorded as
// ingest rejects, so an admin sees them instead of a wrong charge. The
// limits are billing's, the same the estimate holds typed input to.
func (j *Job) Implausible() string {
	var why []string
	add := func(format string, a ...any) { why = append(why, fmt.Sprintf(format, a...)) }
	if j.JobID <= 0 {
		add("no job id")
	}
	if strings.TrimSpace(j.User) == "" {
		add("no user")
	}
	if strings.TrimSpace(j.Account) == "" {
		add("no account")
	}
	if j.Submit.IsZero() {
		add("no submit time")
	}
	if j.ElapsedSeconds < 0 {
		add("negative elapsed time %d s", j.ElapsedSeconds)
	}
	if j.ElapsedSeconds > billing.MaxPlausibleElapsed {
		add("elapsed time %d s is over five years", j.ElapsedSeconds)
	}
	if !j.End.IsZero() && !j.Start.IsZero() && j.End.Before(j.Start) {
		add("ends (%s) before it starts (%s)", j.End.UTC().Format(time.RFC3339), j.Start.UTC().Format(time.RFC3339))
	}
	if j.CPUTimeMicros < 0 {
		add("negative CPU time")
	}
	for _, t := range []struct {
		name string
		tres TRES
	}{{"requested", j.Requested}, {"allocated", j.Allocated}} {
		switch {
		case t.tres.CPU < 0 || t.tres.MemMiB < 0 || t.tres.GPU < 0 || t.tres.Nodes < 0 || t.tres.Billing < 0 || negativeGPUType(t.tres):
			add("negative %s TRES", t.name)
		case t.tres.CPU > billing.MaxPlausibleCPUs:
			add("%d %s CPUs (more than %d)", t.tres.CPU, t.name, billing.MaxPlausibleCPUs)
		case t.tres.MemMiB > billing.MaxPlausibleMemMiB:
			add("%d MiB of %s memory", t.tres.MemMiB, t.name)
		case t.tres.GPU > billing.MaxPlausibleGPUs:
			add("%d %s GPUs", t.tres.GPU, t.name)
		}
	}
	return strings.Join(why, "; ")
}

// Describe names a record for a reject when there is no line to point at.
func (j *Job) Describe() string {
	return fmt.Sprintf("job %d of %q (account %q) submitted %s", j.JobID, j.User, j.Account, j.Submit.UTC().Format(time.RFC3339))
}

func negativeGPUType(t TRES) bool {
	for _, n := range t.GPUByType {
		if n < 0 {
			return true
		}
	}
	return false
}
