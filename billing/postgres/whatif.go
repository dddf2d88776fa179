package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// WhatIfRow is one account under the cards in force and under a draft.
type WhatIfRow struct {
	Account string
	Jobs    int
	Current billing.Micros
	Draft   billing.Micros
}

// WhatIf rates the jobs that ended in [from, to) twice, under the stored
// cards and under the draft alone (as if it had been in force all along;
// jobs the draft has no prices for keep their current amount), and sums
// per account. Nothing is written.
func (s *Store) WhatIf(ctx context.Context, draft *billing.RateCard, from, to time.Time, rule billing.Rounding) ([]WhatIfRow, error) {
	cards, err := s.Cards(ctx)
	if err != nil {
		return nil, err
	}
	current := billing.Rater{Cards: cards, Rounding: rule}
	always := *draft
	always.EffectiveFrom = time.Time{}
	withDraft := billing.Rater{Cards: billing.Cards{&always}, Rounding: rule}
	rows, err := s.pool.Query(ctx, `SELECT cluster, job_id, username, account, partition, qos, state, start_time, end_time,
			elapsed_seconds, cpu_time_us, req_cpu, req_mem_mib, req_nodes, req_billing, req_gpu, req_gpu_types,
			alloc_cpu, alloc_mem_mib, alloc_nodes, alloc_billing, alloc_gpu, alloc_gpu_types
		FROM jobs WHERE end_time >= $1 AND end_time < $2`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	by := map[string]*WhatIfRow{}
	for rows.Next() {
		var u billing.Usage
		var start, end *time.Time
		var rt, at []byte
		if err := rows.Scan(&u.Cluster, &u.JobID, &u.User, &u.Account, &u.Partition, &u.QOS, &u.State, &start, &end,
			&u.ElapsedSeconds, &u.CPUTimeMicros, &u.Requested.CPU, &u.Requested.MemMiB, &u.Requested.Nodes, &u.Requested.Billing,
			&u.Requested.GPU, &rt, &u.Allocated.CPU, &u.Allocated.MemMiB, &u.Allocated.Nodes, &u.Allocated.Billing, &u.Allocated.GPU, &at); err != nil {
			return nil, err
		}
		if start != nil {
			u.Start = *start
		}
		u.End = *end
		u.Requested.GPUByType, u.Allocated.GPUByType = gpuTypes(rt), gpuTypes(at)
		a, errA := current.Rate(u)
		b, errB := withDraft.Rate(u)
		if errA != nil && errB != nil {
			continue // unratable either way; the preview of the period lists such jobs
		}
		if errB != nil {
			b = a
		}
		row := by[u.Account]
		if row == nil {
			row = &WhatIfRow{Account: u.Account}
			by[u.Account] = row
		}
		row.Jobs++
		row.Current += a.Total
		row.Draft += b.Total
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]WhatIfRow, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}
