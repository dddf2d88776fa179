package billing

import "time"

// RunningJob is a job that has started and not ended, as far as pricing
// it so far needs: from the stored records (a receipt) or from Slurm's
// live job list (a budget's accruing cost).
type RunningJob struct {
	Cluster   string
	JobID     int64
	User      string
	Account   string
	Partition string
	QOS       string
	State     string
	Submit    time.Time
	Start     time.Time
	TimeLimit time.Duration // 0: none known
	CPUs      int64
	MemMiB    int64
	Nodes     int64
	GPUs      map[string]int64 // type -> count; "" for untyped
	Billing   int64
	CPUTime   time.Duration // used so far, when known
	// ChargedUntil is where the charges already made for this job end:
	// split attribution charges a running job's part in a period that has
	// ended. What runs after it is not charged yet; what runs before is.
	ChargedUntil time.Time
}

// Elapsed is how long it has run at now (0 before it starts).
func (j RunningJob) Elapsed(now time.Time) time.Duration {
	if j.Start.IsZero() || !j.Start.Before(now) {
		return 0
	}
	return now.Sub(j.Start).Truncate(time.Second)
}

// Uncharged is how long it has run at now that no charge covers yet.
func (j RunningJob) Uncharged(now time.Time) time.Duration {
	from := j.Start
	if j.ChargedUntil.After(from) {
		from = j.ChargedUntil
	}
	if from.IsZero() || !from.Before(now) {
		return 0
	}
	return now.Sub(from).Truncate(time.Second)
}

// CostSoFar prices what a running job has run and no charge covers yet
// (all of it, unless split attribution charged an ended period's part) as
// if it stopped at now, at the card in force now. Receipts show it and
// budgets count it as accruing; it is never charged (rating waits for the
// job to end). This is the one rule for both.
func (rt Rater) CostSoFar(j RunningJob, now time.Time) (Charge, error) {
	el := j.Uncharged(now)
	if el <= 0 {
		return Charge{}, nil
	}
	return rt.Estimate(EstimateInput{Cluster: j.Cluster, Partition: j.Partition, Account: j.Account, QOS: j.QOS,
		CPUs: j.CPUs, MemMiB: j.MemMiB, Nodes: j.Nodes, GPUs: j.GPUs, Duration: el, CPUTime: j.CPUTime, End: now})
}

// UseSoFar is a running job's use at now that no charge covers yet, in
// unit-seconds.
func (j RunningJob) UseSoFar(now time.Time) Use {
	secs := int64(j.Uncharged(now) / time.Second)
	var gpus int64
	for _, n := range j.GPUs {
		gpus += n
	}
	return Use{CoreSeconds: j.CPUs * secs, GPUSeconds: gpus * secs, BillingSeconds: j.Billing * secs}
}
