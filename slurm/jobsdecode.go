package slurm

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DecodeJobs reads a slurmdb jobs (or job/{id}) answer as a stream, calling
// fn for each record, so memory stays flat whatever the size: slurmrestd
// has no paging. A record that cannot be read stops the decode (the window
// is then retried or served by sacct; nothing half-read is kept).
//
// It reads the answer token by token straight into wireJob (jsonScan),
// with no reflection and no generic maps: the reflection-based v2
// decoder it replaces managed ~20,000 records per CPU-second on real
// (pretty-printed, ~8 kB a record) answers, the bottleneck of ingest;
// this is 2-3.5 times that (docs/performance.md, "JSON decode"). It reads
// every field as that decoder did, the same JSON is accepted and refused,
// and the two are compared on every recorded answer and under fuzzing
// (jobsdecode_test.go).
func DecodeJobs(r io.Reader, fn func(Job) error) (JobsAnswer, error) {
	return decodeJobs(r, fn, 64<<10)
}

// decodeJobs is DecodeJobs with a first buffer of bufSize bytes (tests
// use small ones to cross every buffer boundary).
func decodeJobs(r io.Reader, fn func(Job) error, bufSize int) (JobsAnswer, error) {
	var ans JobsAnswer
	d := newJSONScan(r, bufSize)
	c, err := d.next()
	if err != nil {
		return ans, err
	}
	if c != '{' {
		if c == '[' || c == '"' || c == 'n' || c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9' {
			if c != '[' {
				if err := d.skip(); err != nil {
					return ans, err
				}
			}
			return ans, fmt.Errorf("unexpected JSON: want '{', got %s", kindName(c))
		}
		return ans, d.syntax(d.pos, "at start of value")
	}
	var w wireJob
	var tresA, tresR []tresEntry
	err = d.members(func(name []byte) error {
		switch string(name) {
		case "errors":
			errs, err := d.apiErrors()
			if err != nil {
				return fmt.Errorf("errors: %w", err)
			}
			ans.Errors = errs
			return nil
		case "warnings":
			ws, err := d.apiWarnings()
			if err != nil {
				return fmt.Errorf("warnings: %w", err)
			}
			ans.Warnings = append(ans.Warnings, ws...)
			return nil
		case "jobs":
			c, err := d.next()
			if err != nil {
				return err
			}
			if c != '[' {
				if c != '{' {
					if err := d.skip(); err != nil {
						return err
					}
				}
				return fmt.Errorf("unexpected JSON: want '[', got %s", kindName(c))
			}
			return d.elements(func() error {
				// Reuse the last record's lists: normalize copies
				// what it keeps.
				w = wireJob{Steps: w.Steps[:0]}
				w.TRES.Allocated, w.TRES.Requested = tresA[:0], tresR[:0]
				d.strs = d.strs[:0]
				if err := d.job(&w); err != nil {
					return fmt.Errorf("job record %d: %w", ans.Jobs+1, err)
				}
				tresA, tresR = w.TRES.Allocated, w.TRES.Requested
				j, err := w.normalize()
				if err != nil {
					return fmt.Errorf("job record %d: %w", ans.Jobs+1, err)
				}
				j.cleanText()
				ans.Jobs++
				return fn(j)
			})
		}
		return d.skip()
	}, false)
	return ans, err
}

// Everything below reads one part of a record with the semantics of the
// reflection-based decoder it replaced (the test oracle): typed fields as
// encoding/json v2 reads them (integers strict, null as zero, a wrong
// kind an error, names matched exactly), the flex* types as their
// UnmarshalJSON methods do through encoding/json v1 (names matched
// case-insensitively, the last of several winning).

func (d *jsonScan) v2Int(p *int64) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch {
	case c == 'n':
		*p = 0
		return d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		b, err := d.num()
		if err != nil {
			return err
		}
		n, ok := parseStrictInt(b)
		if !ok {
			return fmt.Errorf("cannot read %s as a 64-bit integer", b)
		}
		*p = n
		return nil
	}
	return d.mismatch(c, "integer", true)
}

// parseStrictInt reads an integer as v2 does: digits only, in range.
func parseStrictInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

func (d *jsonScan) v2String(p *string) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		*p = ""
		return d.lit("null")
	case '"':
		b, err := d.str()
		if err != nil {
			return err
		}
		*p = d.string(b)
		return nil
	}
	return d.mismatch(c, "string", true)
}

// flexInt as flexInt.UnmarshalJSON reads it.
func (d *jsonScan) flexInt(f *flexInt) error {
	d.whole++ // the oracle read it whole (ReadValue), then looked inside
	err := d.flexIntWhole(f)
	d.whole--
	return err
}

func (d *jsonScan) flexIntWhole(f *flexInt) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch {
	case c == 'n':
		*f = flexInt{}
		return d.lit("null")
	case c == '{':
		var set, inf, bad bool
		var n int64
		err := d.members(func(name []byte) error {
			switch {
			case bytes.EqualFold(name, []byte("set")):
				return d.v1Bool(&set)
			case bytes.EqualFold(name, []byte("infinite")):
				return d.v1Bool(&inf)
			case bytes.EqualFold(name, []byte("number")):
				c, err := d.next()
				if err != nil {
					return err
				}
				switch {
				case c == 'n':
					n, bad = 0, false
					return d.lit("null")
				case c == '-' || c >= '0' && c <= '9':
					b, err := d.num()
					if err != nil {
						return err
					}
					v, err := parseNumber(b)
					n, bad = v, err != nil
					return nil
				}
				// parseNumber refuses any other kind, if it is the last.
				bad = true
				return d.skip()
			}
			return d.skip()
		}, false)
		if err := d.endWhole(err); err != nil {
			return err
		}
		if bad {
			return fmt.Errorf("not a number at offset %d", d.off+int64(d.pos))
		}
		*f = flexInt{Value: n, Set: set && !inf, Infinite: inf}
		return nil
	case c == '"':
		b, err := d.str()
		if err != nil {
			return err
		}
		if len(b) == 0 {
			*f = flexInt{}
			return nil
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("number %q: %w", b, err)
		}
		*f = flexInt{Value: n, Set: true}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		b, err := d.num()
		if err != nil {
			return err
		}
		n, err := parseNumber(b)
		if err != nil {
			return err
		}
		*f = flexInt{Value: n, Set: true}
		return nil
	}
	return d.mismatch(c, "number", true)
}

// v1Bool: true or false; null leaves the value as it was.
func (d *jsonScan) v1Bool(p *bool) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch c {
	case 't':
		*p = true
		return d.lit("true")
	case 'f':
		*p = false
		return d.lit("false")
	case 'n':
		return d.lit("null")
	}
	return d.later(d.typeErr(c, "boolean"))
}

// later keeps err for the end of the value read as a whole and skips the
// value at hand.
func (d *jsonScan) later(err error) error {
	if d.laterErr == nil {
		d.laterErr = err
	}
	return d.skip()
}

// endWhole ends a value read as a whole: its own error, or the first kept
// for later.
func (d *jsonScan) endWhole(err error) error {
	kept := d.laterErr
	d.laterErr = nil
	if err != nil {
		return err
	}
	return kept
}

// flexStrings as flexStrings.UnmarshalJSON reads it.
func (d *jsonScan) flexStrings(f *flexStrings) error {
	d.whole++ // the oracle read it whole (ReadValue), then looked inside
	err := d.flexStringsWhole(f)
	d.whole--
	return err
}

func (d *jsonScan) flexStringsWhole(f *flexStrings) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		*f = nil
		return d.lit("null")
	case '[':
		// The elements go to the record's arena: flexStrings are read
		// by normalize and not kept.
		start := len(d.strs)
		err := d.elements(func() error {
			c, err := d.next()
			if err != nil {
				return err
			}
			switch c {
			case 'n':
				d.strs = append(d.strs, "")
				return d.lit("null")
			case '"':
				b, err := d.str()
				if err != nil {
					return err
				}
				d.strs = append(d.strs, d.string(b))
				return nil
			}
			return d.later(d.typeErr(c, "string"))
		})
		*f = flexStrings(d.strs[start:len(d.strs):len(d.strs)])
		return d.endWhole(err)
	case '"':
		b, err := d.str()
		if err != nil {
			return err
		}
		d.strs = append(d.strs, d.string(b))
		*f = flexStrings(d.strs[len(d.strs)-1:])
		return nil
	}
	return d.mismatch(c, "string or array of strings", true)
}

// flexString as flexString.UnmarshalJSON reads it: any other value than a
// string or null is kept as its JSON text.
func (d *jsonScan) flexString(f *flexString) error {
	d.whole++ // the oracle read it whole (ReadValue), then looked inside
	err := d.flexStringWhole(f)
	d.whole--
	return err
}

func (d *jsonScan) flexStringWhole(f *flexString) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		*f = ""
		return d.lit("null")
	case '"':
		b, err := d.str()
		if err != nil {
			return err
		}
		*f = flexString(d.string(b))
		return nil
	}
	b, err := d.raw()
	if err != nil {
		return err
	}
	*f = flexString(b)
	return nil
}

// stepID as stepID.UnmarshalJSON reads it.
func (d *jsonScan) stepID(s *stepID) error {
	d.whole++ // the oracle read it whole (ReadValue), then looked inside
	err := d.stepIDWhole(s)
	d.whole--
	return err
}

func (d *jsonScan) stepIDWhole(s *stepID) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	if c != '{' {
		var f flexString
		err := d.flexString(&f)
		*s = stepID(f)
		return err
	}
	var f flexString
	err = d.members(func(name []byte) error {
		if bytes.EqualFold(name, []byte("step_id")) {
			return d.flexString(&f)
		}
		return d.skip()
	}, false)
	*s = stepID(f)
	return err
}

func (d *jsonScan) cpuTime(t *cpuTime) error {
	return d.object("object", func(name []byte) error {
		switch string(name) {
		case "seconds":
			return d.v2Int(&t.Seconds)
		case "microseconds":
			return d.v2Int(&t.Microseconds)
		}
		return d.skip()
	})
}

func (d *jsonScan) exitCode(e *exitCode) error {
	return d.object("object", func(name []byte) error {
		switch string(name) {
		case "status":
			return d.flexStrings(&e.Status)
		case "return_code":
			return d.flexInt(&e.ReturnCode)
		case "signal":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "signal_id":
					return d.flexInt(&e.Signal.SignalID)
				case "id":
					return d.flexInt(&e.Signal.ID)
				}
				return d.skip()
			})
		}
		return d.skip()
	})
}

func (d *jsonScan) tresList(p *[]tresEntry) error {
	return d.array("array", func() error {
		*p = append(*p, tresEntry{})
		t := &(*p)[len(*p)-1]
		return d.object("object", func(name []byte) error {
			switch string(name) {
			case "type":
				return d.v2String(&t.Type)
			case "name":
				return d.flexString(&t.Name)
			case "count":
				return d.flexInt(&t.Count)
			}
			return d.skip()
		})
	})
}

// job reads one element of the jobs array into w (zeroed).
func (d *jsonScan) job(w *wireJob) error {
	return d.object("object", func(name []byte) error {
		switch string(name) {
		case "job_id":
			return d.v2Int(&w.JobID)
		case "name":
			return d.v2String(&w.Name)
		case "user":
			return d.v2String(&w.User)
		case "account":
			return d.v2String(&w.Account)
		case "partition":
			return d.v2String(&w.Partition)
		case "qos":
			return d.v2String(&w.QOS)
		case "cluster":
			return d.v2String(&w.Cluster)
		case "nodes":
			return d.v2String(&w.Nodes)
		case "array":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "job_id":
					return d.v2Int(&w.Array.JobID)
				case "task_id":
					return d.flexInt(&w.Array.TaskID)
				}
				return d.skip()
			})
		case "het":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "job_id":
					return d.v2Int(&w.Het.JobID)
				case "job_offset":
					return d.flexInt(&w.Het.JobOffset)
				}
				return d.skip()
			})
		case "state":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "current":
					return d.flexStrings(&w.State.Current)
				case "reason":
					return d.v2String(&w.State.Reason)
				}
				return d.skip()
			})
		case "exit_code":
			return d.exitCode(&w.ExitCode)
		case "time":
			t := &w.Time
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "elapsed":
					return d.v2Int(&t.Elapsed)
				case "eligible":
					return d.v2Int(&t.Eligible)
				case "end":
					return d.flexInt(&t.End)
				case "start":
					return d.flexInt(&t.Start)
				case "submission":
					return d.v2Int(&t.Submission)
				case "suspended":
					return d.v2Int(&t.Suspended)
				case "limit":
					return d.flexInt(&t.Limit)
				case "total":
					return d.cpuTime(&t.Total)
				}
				return d.skip()
			})
		case "tres":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "allocated":
					return d.tresList(&w.TRES.Allocated)
				case "requested":
					return d.tresList(&w.TRES.Requested)
				}
				return d.skip()
			})
		case "steps":
			return d.array("array", func() error {
				w.Steps = append(w.Steps, wireStep{})
				return d.step(&w.Steps[len(w.Steps)-1])
			})
		}
		return d.skip()
	})
}

func (d *jsonScan) step(s *wireStep) error {
	return d.object("object", func(name []byte) error {
		switch string(name) {
		case "step":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "id":
					return d.stepID(&s.Step.ID)
				case "name":
					return d.v2String(&s.Step.Name)
				}
				return d.skip()
			})
		case "state":
			return d.flexStrings(&s.State)
		case "exit_code":
			return d.exitCode(&s.ExitCode)
		case "time":
			return d.object("object", func(name []byte) error {
				switch string(name) {
				case "elapsed":
					return d.v2Int(&s.Time.Elapsed)
				case "start":
					return d.flexInt(&s.Time.Start)
				case "end":
					return d.flexInt(&s.Time.End)
				case "total":
					return d.cpuTime(&s.Time.Total)
				}
				return d.skip()
			})
		case "tasks":
			return d.object("object", func(name []byte) error {
				if string(name) == "count" {
					return d.v2Int(&s.Tasks.Count)
				}
				return d.skip()
			})
		case "nodes":
			return d.object("object", func(name []byte) error {
				if string(name) == "range" {
					return d.v2String(&s.Nodes.Range)
				}
				return d.skip()
			})
		}
		return d.skip()
	})
}

// apiErrors reads the errors array as []APIError.
func (d *jsonScan) apiErrors() ([]APIError, error) {
	var out []APIError
	if c, err := d.next(); err == nil && c == '[' {
		out = []APIError{} // an empty array, not null, as v2 reads it
	}
	err := d.array("array", func() error {
		out = append(out, APIError{})
		e := &out[len(out)-1]
		return d.object("object", func(name []byte) error {
			switch string(name) {
			case "error_number":
				var n int64
				err := d.v2Int(&n)
				e.Number = int(n)
				return err
			case "error":
				return d.v2String(&e.Error)
			case "description":
				return d.v2String(&e.Description)
			case "source":
				return d.v2String(&e.Source)
			}
			return d.skip()
		})
	})
	return out, err
}

// apiWarnings reads the warnings array as "description source" lines.
func (d *jsonScan) apiWarnings() ([]string, error) {
	var out []string
	err := d.array("array", func() error {
		var desc, src string
		err := d.object("object", func(name []byte) error {
			switch string(name) {
			case "description":
				return d.v2String(&desc)
			case "source":
				return d.v2String(&src)
			}
			return d.skip()
		})
		out = append(out, strings.TrimSpace(desc+" "+src))
		return err
	})
	return out, err
}
