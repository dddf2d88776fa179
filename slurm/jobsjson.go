package slurm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// flexInt reads the many ways slurmrestd writes a number: a plain number,
// null, or (v0.0.40+) {"set": bool, "infinite": bool, "number": n}.
type flexInt struct {
	Value    int64
	Set      bool
	Infinite bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = flexInt{}
		return nil
	case len(b) > 0 && b[0] == '{':
		var o struct {
			Set      bool            `json:"set"`
			Infinite bool            `json:"infinite"`
			Number   json.RawMessage `json:"number"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		n, err := parseNumber(o.Number)
		if err != nil {
			return err
		}
		*f = flexInt{Value: n, Set: o.Set && !o.Infinite, Infinite: o.Infinite}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*f = flexInt{}
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("number %q: %w", s, err)
		}
		*f = flexInt{Value: n, Set: true}
		return nil
	}
	n, err := parseNumber(b)
	if err != nil {
		return err
	}
	*f = flexInt{Value: n, Set: true}
	return nil
}

// UnmarshalJSONFrom lets the v2 decoder hand over the raw value without
// going through the slower v1 method path.
func (f *flexInt) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	return f.UnmarshalJSON(v)
}

func parseNumber(b []byte) (int64, error) {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return 0, nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return n, nil
	}
	// Some fields are floats in some releases; whole values only matter here.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %s", b)
	}
	return int64(f), nil
}

func (f flexInt) ptr() *int64 {
	if !f.Set {
		return nil
	}
	v := f.Value
	return &v
}

// flexStrings reads a string (v0.0.36-39) or an array of strings (v0.0.40+).
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var a []string
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		*f = a
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*f = []string{s}
	return nil
}

// UnmarshalJSONFrom reads the raw value for the v2 decoder.
func (f *flexStrings) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	return f.UnmarshalJSON(v)
}

// jobState is the state sacct prints for a job: v0.0.40 and later send the
// base state followed by flags (["PENDING", "REQUEUED"] for a requeued
// attempt), and Slurm's job_state_string names some flags before the base
// state, in this order.
func jobState(current flexStrings) string {
	for _, flag := range []string{"COMPLETING", "STAGE_OUT", "CONFIGURING", "RESIZING", "REQUEUED", "REQUEUE_FED",
		"REQUEUE_HOLD", "SPECIAL_EXIT", "STOPPED", "REVOKED", "RESV_DEL_HOLD", "SIGNALING"} {
		for _, c := range current[min(1, len(current)):] {
			if strings.EqualFold(c, flag) {
				return flag
			}
		}
	}
	return current.first()
}

func (f flexStrings) first() string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// flexString reads a string, a number or null as a string (step ids are
// "batch" or 0; reservation names the number 0 in 22.05).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		*f = flexString(b)
	}
	return nil
}

// UnmarshalJSONFrom reads the raw value for the v2 decoder.
func (f *flexString) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	return f.UnmarshalJSON(v)
}

type cpuTime struct {
	Seconds      int64 `json:"seconds"`
	Microseconds int64 `json:"microseconds"`
}

func (c cpuTime) micros() int64 { return c.Seconds*1_000_000 + c.Microseconds }

type tresEntry struct {
	Type  string     `json:"type"`
	Name  flexString `json:"name"`
	Count flexInt    `json:"count"`
}

type exitCode struct {
	Status     flexStrings `json:"status"`
	ReturnCode flexInt     `json:"return_code"`
	Signal     struct {
		SignalID flexInt `json:"signal_id"` // v0.0.36-39
		ID       flexInt `json:"id"`        // v0.0.40+
	} `json:"signal"`
}

// wireJob is a tolerant union of the slurmdb job schemas v0.0.36-v0.0.44.
type wireJob struct {
	JobID     int64  `json:"job_id"`
	Name      string `json:"name"`
	User      string `json:"user"`
	Account   string `json:"account"`
	Partition string `json:"partition"`
	QOS       string `json:"qos"`
	Cluster   string `json:"cluster"`
	Nodes     string `json:"nodes"`
	Array     struct {
		JobID  int64   `json:"job_id"`
		TaskID flexInt `json:"task_id"`
	} `json:"array"`
	Het struct {
		JobID     int64   `json:"job_id"`
		JobOffset flexInt `json:"job_offset"`
	} `json:"het"`
	State struct {
		Current flexStrings `json:"current"`
		Reason  string      `json:"reason"`
	} `json:"state"`
	ExitCode exitCode `json:"exit_code"`
	Time     struct {
		Elapsed    int64   `json:"elapsed"`
		Eligible   int64   `json:"eligible"`
		End        flexInt `json:"end"`
		Start      flexInt `json:"start"`
		Submission int64   `json:"submission"`
		Suspended  int64   `json:"suspended"`
		Limit      flexInt `json:"limit"`
		Total      cpuTime `json:"total"`
	} `json:"time"`
	TRES struct {
		Allocated []tresEntry `json:"allocated"`
		Requested []tresEntry `json:"requested"`
	} `json:"tres"`
	Steps []wireStep `json:"steps"`
}

// stepID reads a step id: "batch" or 0 (v0.0.36-38), {"step_id": "batch"}
// (v0.0.39), or "4716.batch" (v0.0.40+; the job prefix is cut later).
type stepID string

func (s *stepID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			StepID flexString `json:"step_id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*s = stepID(o.StepID)
		return nil
	}
	var f flexString
	if err := f.UnmarshalJSON(b); err != nil {
		return err
	}
	*s = stepID(f)
	return nil
}

// UnmarshalJSONFrom reads the raw value for the v2 decoder.
func (s *stepID) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	return s.UnmarshalJSON(v)
}

type wireStep struct {
	Step struct {
		ID   stepID `json:"id"`
		Name string `json:"name"`
	} `json:"step"`
	State    flexStrings `json:"state"`
	ExitCode exitCode    `json:"exit_code"`
	Time     struct {
		Elapsed int64   `json:"elapsed"`
		Start   flexInt `json:"start"`
		End     flexInt `json:"end"`
		Total   cpuTime `json:"total"`
	} `json:"time"`
	Tasks struct {
		Count int64 `json:"count"`
	} `json:"tasks"`
	Nodes struct {
		Range string `json:"range"`
	} `json:"nodes"`
}

// unixOrZero reads a time in Unix seconds; 0 and Slurm's 32-bit NO_VAL
// and INFINITE (4294967294, 4294967295: 24.11 sends NO_VAL as the start of
// a requeued job's attempt cancelled before it started) are no time.
func unixOrZero(s int64) time.Time {
	if s <= 0 || s == 0xfffffffe || s == 0xffffffff {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// exit reads an exit code. slurmdb v0.0.36-39 print SUCCESS/0 for every
// normal exit, even `exit 1` (a 22.05 bug), so a FAILED state with a
// "successful" normal exit means the code is unknown, not 0.
func (e exitCode) exit(state string) (code *int, signal int) {
	status := strings.ToUpper(e.Status.first())
	sig := e.Signal.ID.Value
	if e.Signal.SignalID.Set {
		sig = e.Signal.SignalID.Value
	}
	if status == "SIGNALED" {
		zero := 0
		return &zero, int(sig)
	}
	rc := int(e.ReturnCode.Value)
	if rc == 0 && (status == "SUCCESS" || status == "") && state == "FAILED" {
		return nil, 0
	}
	return &rc, 0
}

// normalize maps a wire record onto Job. A record missing its id or
// submission time still comes out, for Job.Implausible to hold back with
// its reason: failing here would fail the whole window on every retry,
// keeping every other job of it out.
func (w *wireJob) normalize() (Job, error) {
	j := Job{
		Cluster: w.Cluster, JobID: w.JobID, Name: w.Name, User: w.User, Account: w.Account,
		Partition: w.Partition, QOS: w.QOS, NodeList: w.Nodes,
		State:  normalizeState(jobState(w.State.Current)),
		Reason: w.State.Reason,
		Submit: unixOrZero(w.Time.Submission), Eligible: unixOrZero(w.Time.Eligible),
		Start: unixOrZero(w.Time.Start.Value), End: unixOrZero(w.Time.End.Value),
		ElapsedSeconds: w.Time.Elapsed, SuspendedSeconds: w.Time.Suspended,
		TimeLimitMinutes: w.Time.Limit.ptr(),
	}
	if j.NodeList == "None assigned" {
		j.NodeList = ""
	}
	if j.State == "RUNNING" || j.State == "PENDING" {
		j.End = time.Time{}
	}
	if w.Array.JobID != 0 {
		j.ArrayJobID = w.Array.JobID
		j.ArrayTaskID = w.Array.TaskID.ptr()
	}
	if w.Het.JobID != 0 {
		j.HetJobID = w.Het.JobID
		j.HetOffset = w.Het.JobOffset.ptr()
	}
	j.ExitCode, j.ExitSignal = w.ExitCode.exit(j.State)
	for _, t := range w.TRES.Requested {
		j.Requested.add(t.Type, string(t.Name), t.Count.Value)
	}
	for _, t := range w.TRES.Allocated {
		j.Allocated.add(t.Type, string(t.Name), t.Count.Value)
	}
	j.Requested.finish()
	j.Allocated.finish()

	var stepCPU int64
	prefix := strconv.FormatInt(w.JobID, 10) + "."
	for _, ws := range w.Steps {
		st := strings.ToUpper(ws.State.first())
		s := Step{
			ID:    strings.TrimPrefix(string(ws.Step.ID), prefix), // v0.0.41+: "4716.batch"
			Name:  ws.Step.Name,
			State: normalizeState(st),
			Start: ws.Time.Start.Value, End: ws.Time.End.Value,
			ElapsedSeconds: ws.Time.Elapsed,
			CPUTimeMicros:  ws.Time.Total.micros(),
			Tasks:          ws.Tasks.Count,
			NodeList:       ws.Nodes.Range,
		}
		s.ExitCode, _ = ws.ExitCode.exit(s.State)
		stepCPU += s.CPUTimeMicros
		j.Steps = append(j.Steps, s)
	}
	j.StepCount = len(j.Steps)
	// Job-level CPU time from slurmdbd is 0; sacct sums the steps.
	j.CPUTimeMicros = w.Time.Total.micros()
	if j.CPUTimeMicros == 0 {
		j.CPUTimeMicros = stepCPU
	}
	return j, nil
}

// JobsAnswer is what a slurmdb jobs answer said besides its jobs.
type JobsAnswer struct {
	Errors   []APIError
	Warnings []string
	Jobs     int
}

// ErrTruncated means the answer ended before its JSON did.
var ErrTruncated = errors.New("answer ended early (truncated JSON)")

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

func expectKind(dec *jsontext.Decoder, want jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return truncated(err)
	}
	if tok.Kind() != want {
		return fmt.Errorf("unexpected JSON: want %q, got %s", want, tok.Kind())
	}
	return nil
}
