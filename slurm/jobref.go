package slurm

import (
	"strconv"
	"strings"
)

// JobRef is a job as Slurm names it to people (squeue, sacct, emails):
// 55387 for a job, 55387_3 for task 3 of array job 55387. Tally keys rows
// by its own id; people paste these.
type JobRef struct {
	ID     int64 // the job's id or, for an array task, the array job's id
	Task   int64 // the array task's index when IsTask
	IsTask bool
}

// ParseJobRef reads "55387" or "55387_3" (surrounding spaces allowed);
// anything else (a name, a pending array's "55387_[1-9]", a negative id)
// is no Slurm id.
func ParseJobRef(s string) (JobRef, bool) {
	s = strings.TrimSpace(s)
	idText, taskText, isTask := strings.Cut(s, "_")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || strings.HasPrefix(idText, "+") {
		return JobRef{}, false
	}
	if !isTask {
		return JobRef{ID: id}, true
	}
	task, err := strconv.ParseInt(taskText, 10, 64)
	if err != nil || task < 0 || strings.HasPrefix(taskText, "+") {
		return JobRef{}, false
	}
	return JobRef{ID: id, Task: task, IsTask: true}, true
}

// String is Slurm's own spelling, which ParseJobRef reads back.
func (r JobRef) String() string {
	if r.IsTask {
		return strconv.FormatInt(r.ID, 10) + "_" + strconv.FormatInt(r.Task, 10)
	}
	return strconv.FormatInt(r.ID, 10)
}

// RefOf is how Slurm names a job with these ids (arrayJob 0 and task nil
// unless an array task).
func RefOf(jobID, arrayJob int64, task *int64) JobRef {
	if arrayJob != 0 && task != nil {
		return JobRef{ID: arrayJob, Task: *task, IsTask: true}
	}
	return JobRef{ID: jobID}
}
