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
	if d := firstDifference("", reflect.ValueOf(a), reflect.ValueOf(b)); d != "" {
		return d
	}
	return ""
}

// firstDifference names the first field where a and b differ, with both
// values written out (a pointer's value, not its address), such as
// "Steps[0].ExitCode: 0 != 15".
func firstDifference(path string, a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Sprintf("%s: %s != %s", path, show(a), show(b))
			}
			return ""
		}
		return firstDifference(path, a.Elem(), b.Elem())
	case reflect.Struct:
		if _, ok := a.Interface().(interface{ String() string }); ok {
			break // time.Time and the like compare as a whole
		}
		for i := 0; i < a.NumField(); i++ {
			name := a.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			if d := firstDifference(name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d entries != %d", path, a.Len(), b.Len())
		}
		for i := 0; i < a.Len(); i++ {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s: %s != %s", path, show(a), show(b))
	}
	return ""
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil"
		}
		v = v.Elem()
	}
	return fmt.Sprintf("%v", v.Interface())
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
