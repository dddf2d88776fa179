package jobstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// ReplaceLiveJobs stores what Slurm runs now on cluster, in one
// transaction: the cluster's rows become exactly jobs, and its refresh row
// says when and how many. A failed refresh (refreshErr not "") keeps the
// rows there are, the last known, and records the error and its time:
// readers then see both how old the list is and why.
func (s *Store) ReplaceLiveJobs(ctx context.Context, cluster string, jobs []billing.RunningJob, refreshedAt time.Time, refreshErr string) error {
	rows := make([][]any, 0, len(jobs))
	if refreshErr == "" {
		seen := make(map[int64]bool, len(jobs))
		for _, j := range jobs {
			if j.Cluster != "" && j.Cluster != cluster {
				return fmt.Errorf("live jobs of %s: job %d is of cluster %s", cluster, j.JobID, j.Cluster)
			}
			// One slurmctld lists a job once; a second would fail the
			// COPY with a bare key violation, so say which.
			if seen[j.JobID] {
				return fmt.Errorf("live jobs of %s: job %d is listed twice", cluster, j.JobID)
			}
			seen[j.JobID] = true
			rows = append(rows, liveRow(cluster, j))
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if refreshErr != "" {
			_, err := tx.Exec(ctx, `INSERT INTO live_jobs_refresh (cluster, refreshed_at, jobs, error)
				VALUES ($1, $2, (SELECT count(*) FROM live_jobs WHERE cluster = $1), $3)
				ON CONFLICT (cluster) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, error = EXCLUDED.error`,
				cluster, refreshedAt, refreshErr)
			if err != nil {
				return fmt.Errorf("recording the failed live jobs refresh: %w", err)
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM live_jobs WHERE cluster = $1`, cluster); err != nil {
			return fmt.Errorf("clearing live jobs: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"live_jobs"}, liveColumns(), pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("storing live jobs: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO live_jobs_refresh (cluster, refreshed_at, jobs, error) VALUES ($1, $2, $3, '')
			ON CONFLICT (cluster) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, jobs = EXCLUDED.jobs, error = ''`,
			cluster, refreshedAt, len(rows))
		if err != nil {
			return fmt.Errorf("recording the live jobs refresh: %w", err)
		}
		return nil
	})
}

func liveColumns() []string {
	return []string{"cluster", "job_id", "username", "account", "partition", "qos", "state", "submit_time", "start_time",
		"time_limit_minutes", "req_cpu", "req_mem_mib", "req_nodes", "req_gpu", "req_gpu_types", "req_billing"}
}

// liveRow is a job as live_jobs holds it: GPUs as a total and the typed
// ones by type (as the jobs table has them), "" counting in the total only.
func liveRow(cluster string, j billing.RunningJob) []any {
	var gpus int64
	types := map[string]int64{}
	for t, n := range j.GPUs {
		gpus += n
		if t != "" {
			types[t] = n
		}
	}
	var limit any
	if j.TimeLimit > 0 {
		limit = int64(j.TimeLimit / time.Minute)
	}
	return []any{cluster, j.JobID, j.User, j.Account, j.Partition, j.QOS, j.State, ts(j.Submit), ts(j.Start),
		limit, j.CPUs, j.MemMiB, j.Nodes, gpus, gpuTypes(types), j.Billing}
}

// LiveJobs reads the stored live jobs of cluster ("" for every cluster),
// of accounts (nil for every account; an empty list for none) and of user
// ("" for everyone), by cluster and job id.
func LiveJobs(ctx context.Context, q Querier, cluster string, accounts []string, user string) ([]billing.RunningJob, error) {
	if accounts != nil && len(accounts) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT cluster, job_id, username, account, partition, qos, state, submit_time, start_time,
		time_limit_minutes, req_cpu, req_mem_mib, req_nodes, req_gpu, req_gpu_types, req_billing
		FROM live_jobs
		WHERE ($1 = '' OR cluster = $1) AND ($2::text[] IS NULL OR account = ANY($2)) AND ($3 = '' OR username = $3)
		ORDER BY cluster, job_id`, cluster, accounts, user)
	if err != nil {
		return nil, fmt.Errorf("live jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.RunningJob, error) {
		var j billing.RunningJob
		var submit, start *time.Time
		var limit *int64
		var gpus int64
		var types []byte
		if err := r.Scan(&j.Cluster, &j.JobID, &j.User, &j.Account, &j.Partition, &j.QOS, &j.State, &submit, &start,
			&limit, &j.CPUs, &j.MemMiB, &j.Nodes, &gpus, &types, &j.Billing); err != nil {
			return j, err
		}
		if submit != nil {
			j.Submit = submit.UTC()
		}
		if start != nil {
			j.Start = start.UTC()
		}
		if limit != nil {
			j.TimeLimit = time.Duration(*limit) * time.Minute
		}
		if gpus > 0 {
			j.GPUs = map[string]int64{}
			if err := json.Unmarshal(types, &j.GPUs); err != nil {
				return j, fmt.Errorf("job %d: GPU types: %w", j.JobID, err)
			}
			var typed int64
			for _, n := range j.GPUs {
				typed += n
			}
			if gpus > typed {
				j.GPUs[""] = gpus - typed
			}
		}
		return j, nil
	})
	if err != nil {
		return nil, fmt.Errorf("live jobs: %w", err)
	}
	return out, nil
}

// LiveRefresh is how the live list of one cluster stands, for the ingest
// page.
type LiveRefresh struct {
	Cluster string
	// RefreshedAt is the last attempt: the list was read then, or, when
	// Error says why not, the jobs held are from an earlier one.
	RefreshedAt time.Time
	Jobs        int
	Error       string
}

// LiveRefreshes lists each cluster's live list refresh, by cluster.
func LiveRefreshes(ctx context.Context, q Querier) ([]LiveRefresh, error) {
	rows, err := q.Query(ctx, `SELECT cluster, refreshed_at, jobs, error FROM live_jobs_refresh ORDER BY cluster`)
	if err != nil {
		return nil, fmt.Errorf("live jobs refresh: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LiveRefresh, error) {
		var l LiveRefresh
		return l, r.Scan(&l.Cluster, &l.RefreshedAt, &l.Jobs, &l.Error)
	})
	if err != nil {
		return nil, fmt.Errorf("live jobs refresh: %w", err)
	}
	return out, nil
}
