package slurm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeBoth runs DecodeJobs and the oracle on the same input and reports
// how they differ, or "" when they agree: the same records in the same
// order (up to where both stopped), the same answer when both finished,
// an error from both or from neither, and the same verdict on truncation.
func decodeBoth(in []byte, oneByte bool) string {
	for _, size := range []int{64 << 10, 8, 61} {
		if d := decodeBothSized(in, oneByte, size); d != "" {
			return d + " (buffer " + strconv.Itoa(size) + ")"
		}
	}
	return ""
}

func decodeBothSized(in []byte, oneByte bool, bufSize int) string {
	type result struct {
		jobs []Job
		ans  JobsAnswer
		err  error
	}
	run := func(decode func([]byte) (JobsAnswer, []Job, error)) result {
		ans, jobs, err := decode(in)
		return result{jobs, ans, err}
	}
	newR := run(func(b []byte) (JobsAnswer, []Job, error) {
		var jobs []Job
		var r = bytes.NewReader(b)
		var rd interface{ Read([]byte) (int, error) } = r
		if oneByte {
			rd = iotest.OneByteReader(r)
		}
		ans, err := decodeJobs(rd, func(j Job) error { jobs = append(jobs, j); return nil }, bufSize)
		return ans, jobs, err
	})
	oldR := run(func(b []byte) (JobsAnswer, []Job, error) {
		var jobs []Job
		ans, err := decodeJobsOracle(bytes.NewReader(b), func(j Job) error { jobs = append(jobs, j); return nil })
		return ans, jobs, err
	})
	switch {
	case (newR.err == nil) != (oldR.err == nil):
		return "errors differ: new " + errString(newR.err) + ", oracle " + errString(oldR.err)
	case errors.Is(newR.err, ErrTruncated) != errors.Is(oldR.err, ErrTruncated):
		return "truncation differs: new " + errString(newR.err) + ", oracle " + errString(oldR.err)
	case !reflect.DeepEqual(newR.jobs, oldR.jobs):
		return "records differ (" + strconv.Itoa(len(newR.jobs)) + " new, " + strconv.Itoa(len(oldR.jobs)) + " oracle)"
	case newR.err == nil && !reflect.DeepEqual(newR.ans, oldR.ans):
		return "answers differ"
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// Every recorded answer, and each cut short at many points, decodes
// exactly as the oracle decodes it.
func TestDecodeMatchesOracleOnRecordings(t *testing.T) {
	files := jsonFixtures(t)
	more, _ := filepath.Glob("testdata/testbed-24.11/slurmdb-*job*.json")
	files = append(files, more...)
	more, _ = filepath.Glob("testdata/testbed/errors/*.json")
	files = append(files, more...)
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if d := decodeBoth(in, false); d != "" {
			t.Errorf("%s: %s", f, d)
		}
		if d := decodeBoth(in, true); d != "" {
			t.Errorf("%s read a byte at a time: %s", f, d)
		}
		for cut := 0; cut < len(in); cut += 1 + len(in)/97 {
			if d := decodeBoth(in[:cut], false); d != "" {
				t.Errorf("%s cut at %d: %s", f, cut, d)
			}
		}
	}
}

// Odd JSON, and each shape the flexible fields take, decode as the
// oracle decodes them.
func TestDecodeMatchesOracleOnOddInput(t *testing.T) {
	cases := []string{
		``, ` `, `[]`, `null`, `"x"`, `1`, `{`, `{}`, `{} trailing`, `{"jobs":null}`, `{"jobs":{}}`, `{"jobs":[]}`,
		`{"jobs":[null]}`, `{"jobs":[1]}`, `{"jobs":[{}]}`, `{"jobs":[{},]}`, `{"jobs":[{}}`, `{"jobs":[{"job_id":1,}]}`,
		`{"jobs":[],"jobs":[]}`, `{"a":1,"a":2}`, `{"jobs":[{"job_id":1,"job_id":2}]}`, `{"jobs":[{"x":{"a":1,"a":1}}]}`,
		`{"jobs":[{"x":{"a":1,"\u0061":1}}]}`, `{"jobs":[{"x":{"a\xff":1,"a\xfe":1}}]}`,
		`{"jobs":[{"job_id":1.5}]}`, `{"jobs":[{"job_id":1e3}]}`, `{"jobs":[{"job_id":-0}]}`, `{"jobs":[{"job_id":01}]}`,
		`{"jobs":[{"job_id":9223372036854775807}]}`, `{"jobs":[{"job_id":9223372036854775808}]}`, `{"jobs":[{"job_id":-9223372036854775808}]}`,
		`{"jobs":[{"job_id":"1"}]}`, `{"jobs":[{"job_id":null,"name":null}]}`, `{"jobs":[{"name":1}]}`, `{"jobs":[{"name":"a\u0000b\ud800c"}]}`,
		`{"jobs":[{"time":{"limit":{"set":true,"infinite":false,"number":5}}}]}`,
		`{"jobs":[{"time":{"limit":{"SET":true,"Number":5,"number":6}}}]}`,
		`{"jobs":[{"time":{"limit":{"set":true,"number":"5"}}}]}`,
		`{"jobs":[{"time":{"limit":{"set":true,"number":"5","NUMBER":7}}}]}`,
		`{"jobs":[{"time":{"limit":{"set":null,"number":null}}}]}`,
		`{"jobs":[{"time":{"limit":{"set":1}}}]}`,
		`{"jobs":[{"time":{"limit":{"set":true,"number":1.9e3}}}]}`, `{"jobs":[{"time":{"limit":{"set":true,"number":1e400}}}]}`,
		`{"jobs":[{"time":{"limit":"12"}}]}`, `{"jobs":[{"time":{"limit":""}}]}`, `{"jobs":[{"time":{"limit":"x"}}]}`,
		`{"jobs":[{"time":{"limit":true}}]}`, `{"jobs":[{"time":{"limit":[]}}]}`, `{"jobs":[{"time":{"limit":2.5}}]}`,
		`{"jobs":[{"state":{"current":["PENDING","REQUEUED"]}}]}`, `{"jobs":[{"state":{"current":"RUNNING"}}]}`,
		`{"jobs":[{"state":{"current":[null,"x"]}}]}`, `{"jobs":[{"state":{"current":[1]}}]}`, `{"jobs":[{"state":{"current":5}}]}`,
		`{"jobs":[{"state":null,"time":null,"tres":null,"steps":null,"array":null,"exit_code":null}]}`,
		`{"jobs":[{"steps":[null,{"step":{"id":{"step_id":"batch"}}},{"step":{"id":"7.batch"}},{"step":{"id":0}}]}]}`,
		`{"jobs":[{"job_id":7,"steps":[{"step":{"id":{"STEP_ID":{"a": [1, 2]}}}},{"step":{"id":[ 1 ,2 ]}}]}]}`,
		`{"jobs":[{"tres":{"allocated":[{"type":"gres","name":"gpu:a100","count":2},null,{"type":"cpu","name":{"x" : 1},"count":{"set":true,"number":4}}]}}]}`,
		`{"jobs":[{"exit_code":{"status":"SIGNALED","signal":{"signal_id":9}}}]}`,
		`{"jobs":[{"exit_code":{"status":["FAILED"],"return_code":{"set":true,"number":1},"signal":{"id":{"set":false,"number":0}}}}]}`,
		`{"errors":[{"error_number":9003,"error":"Nothing found"}],"warnings":[{"description":"d","source":"s"}],"jobs":[]}`,
		`{"errors":[null,{"error_number":"x"}],"jobs":[]}`, `{"warnings":null,"errors":null,"jobs":[]}`,
		`{"jobs":[{"job_id":1}], "errors": [{"error_number": 1007}]}`, `{"jobs":[{"job_id":1}] "x":1}`,
		`{"jobs":[{"job_id":1},{"job_id":2},x]}`, `{"jobs":[{"name":"\x01"}]}`, `{"jobs":[{"name":"\q"}]}`, `{"jobs":[{"name":"\u12"}]}`,
		`{"jobs":[{"a":tru}]}`, `{"jobs":[{"a":nul`, `{"jobs":[{"a":-`, `{"jobs":[{"a":1.`, `{"jobs":[{"a":1e+`, `{"jobs":[{"a":"\u00`,
		`{"jobs":[{"a":[1,2,]}]}`, `{"jobs":[{"a":[1 2]}]}`, `{"jobs":[{"a":{"b" 1}}]}`, `{"jobs":[{"a":{1:2}}]}`,
		// Odd JSON cut short: which error comes first.
		`{-`, `{"x":{-`, `{"x":{1`, `{"x":{[1`, `{"jobs":[{"x":{-`, `{"jobs":[{"time":{"limit":{-`, `{"jobs":[{"time":{"limit":{1`,
		`{"jobs":[{"time":{"limit":{[`, `{"a":1,-`, `{"a":1,[`, `{"x":{"a":1,-`, `{"x":{"a":1,t`, `{"x":[1,}`, `{"x":[1,-`, `{"x":[-`,
		`{"x":[1 -`, `{"x":1 -`, `{"x":1 {`, `{"jobs":[{"a":1 -`, `{"jobs":[{{"000"`, `{"jobs":[{{"a":1}`, `{"jobs":[{[1`, `{{"a"`,
		`{"jobs":[{"time":{"limit":{"x":{-`, `{"jobs":[{"job_id":{-`, `{"jobs":[{"job_id":[1,{"a":-`, `{"jobs":"abc`, `"abc`,
		strings.Repeat(`[`, 10001), `{"x":` + strings.Repeat(`[`, 9998) + strings.Repeat(`]`, 9998) + `}`,
		`{"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
	}
	for _, in := range cases {
		if d := decodeBoth([]byte(in), false); d != "" {
			t.Errorf("%.120q: %s", in, d)
		}
		if d := decodeBoth([]byte(in), true); d != "" {
			t.Errorf("%.120q a byte at a time: %s", in, d)
		}
	}
}

// FuzzDecodeMatchesOracle holds DecodeJobs to the oracle on any input.
func FuzzDecodeMatchesOracle(f *testing.F) {
	f.Add([]byte(`{"jobs":[{"job_id":1,"time":{"submission":5,"limit":{"set":true,"number":3}}}]}`))
	f.Add([]byte(`{"errors":[{"error_number":1007,"error":"Protocol authentication error"}],"jobs":[]}`))
	f.Add([]byte("{\"jobs\":[{\"job_id\":2,\"name\":\"caf\xe9 \\u0000\",\"user\":\"a\",\"time\":{\"submission\":5}}]}"))
	f.Add([]byte(`{"jobs":[{"job_id":3,"state":{"current":["PENDING","REQUEUED"]},"steps":[{"step":{"id":"3.batch"},"time":{"total":{"seconds":1}}}],"tres":{"requested":[{"type":"gres","name":"gpu:a100","count":1}]}}]}`))
	// FuzzDecodeJobs' corpus: inputs that once found bugs.
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecodeJobs/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(line, "[]byte("); ok {
				if v, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
					f.Add([]byte(v))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := decodeBoth(b, false); d != "" {
			t.Fatal(d)
		}
	})
}
