package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// SacctWriter prints records exactly as `sacct` does for the ingester's own
// arguments (slurm.SacctArgs): --parsable2 --noheader --noconvert with
// slurm.SacctFormat and the unit-separator delimiter, job line then steps.
type SacctWriter struct{ w *bufio.Writer }

// NewSacctWriter writes to w; call Flush at the end.
func NewSacctWriter(w io.Writer) *SacctWriter { return &SacctWriter{w: bufio.NewWriterSize(w, 64<<10)} }

// Flush writes what is buffered.
func (s *SacctWriter) Flush() error { return s.w.Flush() }

func sacctTime(t time.Time) string {
	if t.IsZero() {
		return "Unknown"
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// SlurmDuration prints microseconds the way sacct prints TotalCPU.
func SlurmDuration(us int64) string {
	ms := (us / 1000) % 1000
	sec := us / 1_000_000
	d, h, m, s := sec/86400, sec%86400/3600, sec%3600/60, sec%60
	switch {
	case d > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, s)
	case h > 0:
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d.%03d", m, s, ms)
}

// TRESString prints TRES as sacct --noconvert does.
func TRESString(t slurm.TRES, withBilling bool) string {
	var parts []string
	if withBilling && t.Billing > 0 {
		parts = append(parts, "billing="+strconv.FormatInt(t.Billing, 10))
	}
	if t.CPU > 0 {
		parts = append(parts, "cpu="+strconv.FormatInt(t.CPU, 10))
	}
	if t.GPU > 0 {
		parts = append(parts, "gres/gpu="+strconv.FormatInt(t.GPU, 10))
		types := make([]string, 0, len(t.GPUByType))
		for k := range t.GPUByType {
			types = append(types, k)
		}
		sort.Strings(types)
		for _, k := range types {
			parts = append(parts, "gres/gpu:"+k+"="+strconv.FormatInt(t.GPUByType[k], 10))
		}
	}
	if t.MemMiB > 0 {
		parts = append(parts, "mem="+strconv.FormatInt(t.MemMiB, 10)+"M")
	}
	if t.Nodes > 0 {
		parts = append(parts, "node="+strconv.FormatInt(t.Nodes, 10))
	}
	return strings.Join(parts, ",")
}

// Write prints one record.
func (s *SacctWriter) Write(j slurm.Job) error {
	display := strconv.FormatInt(j.JobID, 10)
	if j.ArrayJobID != 0 && j.ArrayTaskID != nil {
		display = fmt.Sprintf("%d_%d", j.ArrayJobID, *j.ArrayTaskID)
	}
	exit := func(code *int, sig int) string {
		c := 0
		if code != nil {
			c = *code
		}
		return fmt.Sprintf("%d:%d", c, sig)
	}
	limit := "UNLIMITED"
	if j.TimeLimitMinutes != nil {
		limit = strconv.FormatInt(*j.TimeLimitMinutes, 10)
	}
	state := j.State
	if state == "CANCELLED" {
		state = "CANCELLED by 0"
	}
	nodes := j.NodeList
	if nodes == "" {
		nodes = "None assigned"
	}
	line := []string{display, strconv.FormatInt(j.JobID, 10), j.Name, j.User, j.Account, j.Partition, j.QOS, state, "None",
		exit(j.ExitCode, j.ExitSignal), sacctTime(j.Submit), sacctTime(j.Eligible), sacctTime(j.Start), sacctTime(j.End),
		strconv.FormatInt(j.ElapsedSeconds, 10), limit, "00:00:00", SlurmDuration(j.CPUTimeMicros), "", strconv.FormatInt(max(j.Allocated.Nodes, 1), 10),
		TRESString(j.Requested, true), TRESString(j.Allocated, true), nodes, j.Cluster}
	s.w.WriteString(strings.Join(line, slurm.SacctDelimiter))
	s.w.WriteByte('\n')
	for _, st := range j.Steps {
		sl := []string{display + "." + st.ID, strconv.FormatInt(j.JobID, 10) + "." + st.ID, st.Name, "", j.Account, "", "", st.State, "",
			exit(st.ExitCode, 0), sacctTime(time.Unix(st.Start, 0)), sacctTime(time.Unix(st.Start, 0)), sacctTime(time.Unix(st.Start, 0)),
			sacctTime(time.Unix(st.End, 0)), strconv.FormatInt(st.ElapsedSeconds, 10), "", "00:00:00", SlurmDuration(st.CPUTimeMicros),
			strconv.FormatInt(st.Tasks, 10), "1", "", TRESString(slurm.TRES{CPU: j.Allocated.CPU, MemMiB: j.Allocated.MemMiB, Nodes: 1,
				GPU: j.Allocated.GPU, GPUByType: j.Allocated.GPUByType}, false), st.NodeList, j.Cluster}
		s.w.WriteString(strings.Join(sl, slurm.SacctDelimiter))
		s.w.WriteByte('\n')
	}
	return nil
}

// SlurmdbWriter writes a /slurmdb/vX/jobs answer, record by record.
type SlurmdbWriter struct {
	w       *bufio.Writer
	version string
	n       int
}

// NewSlurmdbWriter starts an answer in v0.0.38 or v0.0.41 shape.
func NewSlurmdbWriter(w io.Writer, version string) *SlurmdbWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"meta":{"plugin":{"type":"openapi/dbv0.0.38"}},"errors":[],"jobs":[`)
	return &SlurmdbWriter{w: bw, version: version}
}

// Close ends the answer.
func (s *SlurmdbWriter) Close() error {
	if s.version == "v0.0.38" {
		s.w.WriteString("]}")
	} else {
		s.w.WriteString(`],"warnings":[]}`)
	}
	return s.w.Flush()
}

func num(v int64) map[string]any { return map[string]any{"set": true, "infinite": false, "number": v} }

func unset() map[string]any { return map[string]any{"set": false, "infinite": false, "number": 0} }

func tresList(t slurm.TRES, v41 bool) []map[string]any {
	var out []map[string]any
	add := func(typ string, name any, id int, count int64) {
		if v41 && name == nil {
			name = ""
		}
		out = append(out, map[string]any{"type": typ, "name": name, "id": id, "count": count})
	}
	if t.CPU > 0 {
		add("cpu", nil, 1, t.CPU)
	}
	if t.MemMiB > 0 {
		add("mem", nil, 2, t.MemMiB)
	}
	if t.Nodes > 0 {
		add("node", nil, 4, t.Nodes)
	}
	if t.Billing > 0 {
		add("billing", nil, 5, t.Billing)
	}
	if t.GPU > 0 {
		add("gres", "gpu", 1001, t.GPU)
		types := make([]string, 0, len(t.GPUByType))
		for k := range t.GPUByType {
			types = append(types, k)
		}
		sort.Strings(types)
		for i, k := range types {
			add("gres", "gpu:"+k, 1002+i, t.GPUByType[k])
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out
}

// Write adds one record, as that API version prints it, including 22.05's
// habit of reporting every normal exit as SUCCESS with return code 0.
func (s *SlurmdbWriter) Write(j slurm.Job) error {
	v41 := s.version != "v0.0.38"
	zero := map[string]any{"seconds": 0, "microseconds": 0}
	end := j.End.Unix()
	if j.End.IsZero() {
		end = 0
	}
	exit := func(code *int, sig int) map[string]any {
		if v41 {
			e := map[string]any{"status": []string{"SUCCESS"}, "return_code": num(0), "signal": map[string]any{"id": unset(), "name": ""}}
			switch {
			case sig != 0:
				e["status"] = []string{"SIGNALED"}
				e["signal"] = map[string]any{"id": num(int64(sig)), "name": "SIGTERM"}
			case code != nil && *code != 0:
				e["status"], e["return_code"] = []string{"ERROR"}, num(int64(*code))
			}
			return e
		}
		if sig != 0 {
			return map[string]any{"status": "SIGNALED", "signal": map[string]any{"signal_id": sig, "name": "Terminated"}}
		}
		return map[string]any{"status": "SUCCESS", "return_code": 0}
	}
	var steps []map[string]any
	for _, st := range j.Steps {
		t := map[string]any{"elapsed": st.ElapsedSeconds, "suspended": 0, "system": zero, "user": zero,
			"total": map[string]any{"seconds": st.CPUTimeMicros / 1_000_000, "microseconds": st.CPUTimeMicros % 1_000_000}}
		var id, state any = st.ID, st.State
		if n, err := strconv.Atoi(st.ID); err == nil && !v41 {
			id = n
		}
		if v41 {
			t["start"], t["end"] = num(st.Start), num(st.End)
			id = fmt.Sprintf("%d.%s", j.JobID, st.ID)
			state = []string{st.State}
		} else {
			t["start"], t["end"] = st.Start, st.End
		}
		steps = append(steps, map[string]any{"step": map[string]any{"job_id": j.JobID, "id": id, "name": st.Name},
			"state": state, "exit_code": exit(st.ExitCode, 0), "time": t, "tasks": map[string]any{"count": st.Tasks},
			"nodes": map[string]any{"count": 1, "range": st.NodeList, "list": []string{st.NodeList}},
			"tres":  map[string]any{"allocated": tresList(slurm.TRES{CPU: j.Allocated.CPU, MemMiB: j.Allocated.MemMiB, Nodes: 1}, v41)}})
	}
	if steps == nil {
		steps = []map[string]any{}
	}
	var task, limit, offset any
	if j.ArrayTaskID != nil {
		task = *j.ArrayTaskID
	}
	if j.TimeLimitMinutes != nil {
		limit = *j.TimeLimitMinutes
	}
	state := any(j.State)
	if v41 {
		state = []string{j.State}
		if task == nil {
			task = unset()
		} else {
			task = num(task.(int64))
		}
		if limit == nil {
			limit = map[string]any{"set": false, "infinite": true, "number": 0}
		} else {
			limit = num(limit.(int64))
		}
		offset = unset()
	}
	nodes := j.NodeList
	if nodes == "" {
		nodes = "None assigned"
	}
	rec := map[string]any{
		"account": j.Account, "cluster": j.Cluster, "job_id": j.JobID, "name": j.Name, "user": j.User, "partition": j.Partition,
		"qos": j.QOS, "nodes": nodes, "group": j.User,
		"association": map[string]any{"account": j.Account, "cluster": j.Cluster, "partition": nil, "user": j.User},
		"array":       map[string]any{"job_id": j.ArrayJobID, "task_id": task},
		"het":         map[string]any{"job_id": 0, "job_offset": offset},
		"state":       map[string]any{"current": state, "reason": "None"},
		"exit_code":   exit(j.ExitCode, j.ExitSignal),
		"time": map[string]any{"elapsed": j.ElapsedSeconds, "eligible": j.Eligible.Unix(), "end": end, "start": j.Start.Unix(),
			"submission": j.Submit.Unix(), "suspended": 0, "limit": limit, "total": zero, "user": zero, "system": zero},
		"tres":  map[string]any{"requested": tresList(j.Requested, v41), "allocated": tresList(j.Allocated, v41)},
		"steps": steps,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if s.n > 0 {
		s.w.WriteByte(',')
	}
	s.n++
	_, err = s.w.Write(b)
	return err
}
