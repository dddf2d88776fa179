package slurm

import (
	"fmt"
	"reflect"
)

// CompareRecords describes how two records of the same job from different
// sources differ in what both sources carry, or returns "". CPU times are
// compared to the millisecond (sacct's precision) and an exit code one
// source cannot know is not a difference.
func CompareRecords(a, b Job) string {
	a, b = comparable(a), comparable(b)
	// sacct prints CPU times of an hour or more without the milliseconds.
	a.CPUTimeMicros, b.CPUTimeMicros = sameSecond(a.CPUTimeMicros, b.CPUTimeMicros)
	for i := range a.Steps {
		if i < len(b.Steps) {
			a.Steps[i].CPUTimeMicros, b.Steps[i].CPUTimeMicros = sameSecond(a.Steps[i].CPUTimeMicros, b.Steps[i].CPUTimeMicros)
		}
	}
	if a.ExitCode == nil || b.ExitCode == nil {
		a.ExitCode, b.ExitCode = nil, nil
	}
	for i := range a.Steps {
		if i < len(b.Steps) && (a.Steps[i].ExitCode == nil || b.Steps[i].ExitCode == nil) {
			a.Steps[i].ExitCode, b.Steps[i].ExitCode = nil, nil
		}
	}
	if reflect.DeepEqual(a, b) {
		return ""
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return fmt.Sprintf("%s: %v != %v", va.Type().Field(i).Name, va.Field(i).Interface(), vb.Field(i).Interface())
		}
	}
	return "differs"
}

func comparable(j Job) Job {
	j.CPUTimeMicros /= 1000
	// Fields only one source reports are left out.
	j.Reason = ""
	j.Requested.EnergyJ, j.Allocated.EnergyJ = 0, 0
	steps := make([]Step, len(j.Steps))
	for i, s := range j.Steps {
		s.CPUTimeMicros /= 1000
		s.Tasks = 0
		steps[i] = s
	}
	j.Steps = steps
	if j.State == "RUNNING" {
		j.ElapsedSeconds = 0
		for i := range j.Steps {
			j.Steps[i].ElapsedSeconds = 0
		}
	}
	return j
}

// sameSecond treats two millisecond CPU times of an hour or more as equal
// when they fall in the same second.
func sameSecond(a, b int64) (int64, int64) {
	if (a >= 3_600_000 || b >= 3_600_000) && a/1000 == b/1000 {
		return a, a
	}
	return a, b
}
