package postgres

import (
	"strconv"

	"github.com/tally-hpc/tally/slurm"
)

// jobRefCond is the condition on jobs j for the jobs a Slurm id names
// (55387 a job, 55387_3 an array task), its values appended to args. The
// receipt by Slurm id and an adjustment's job read the same jobs with it,
// newest submission first (newestFirst), so both name the same attempt of
// a requeued job.
func jobRefCond(ref slurm.JobRef, args *[]any) string {
	*args = append(*args, ref.ID)
	id := "$" + strconv.Itoa(len(*args))
	if !ref.IsTask {
		return "j.job_id = " + id
	}
	*args = append(*args, ref.Task)
	return "j.array_job_id = " + id + " AND j.array_task_id = $" + strconv.Itoa(len(*args)) + " AND j.array_job_id <> 0" // <> 0: jobs_array_task_idx
}

// newestFirst orders the jobs one Slurm id names.
const newestFirst = "j.submit_time DESC, j.id DESC"
