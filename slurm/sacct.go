package slurm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// SacctFormat is the --format list Tally asks sacct for.
const SacctFormat = "JobID,JobIDRaw,JobName,User,Account,Partition,QOS,State,Reason,ExitCode," +
	"Submit,Eligible,Start,End,ElapsedRaw,TimelimitRaw,Suspended,TotalCPU,NTasks,NNodes," +
	"ReqTRES,AllocTRES,NodeList,Cluster"

// SacctDelimiter separates fields: the ASCII unit separator cannot occur in
// job names, unlike sacct's default "|".
const SacctDelimiter = "\x1f"

// Reject is a line sacct printed that Tally could not read. It is kept in
// ingest_rejects with its number, never silently dropped.
type Reject struct {
	Line int
	Raw  string
	Err  string
}

// SacctParser reads `sacct --parsable2` output, job lines followed by their
// step lines, for any --format list that includes JobID and JobIDRaw.
type SacctParser struct {
	fields []string
	idx    map[string]int
	delim  string
}

// NewSacctParser parses output made with format (comma-separated field
// names, as given to --format) and delimiter.
func NewSacctParser(format, delim string) (*SacctParser, error) {
	p := &SacctParser{delim: delim, idx: map[string]int{}}
	for i, f := range strings.Split(format, ",") {
		f = strings.TrimSpace(f)
		if j := strings.IndexByte(f, '%'); j > 0 { // "JobName%30"
			f = f[:j]
		}
		p.fields = append(p.fields, f)
		p.idx[strings.ToLower(f)] = i
	}
	for _, need := range []string{"jobid", "jobidraw", "submit"} {
		if _, ok := p.idx[need]; !ok {
			return nil, fmt.Errorf("sacct format must include %s", need)
		}
	}
	return p, nil
}

// maxLine bounds one sacct line; longer lines are rejected, not read whole.
const maxLine = 1 << 20

// Parse streams r, calling emit for each complete job (with its steps) and
// reject for each unreadable line. An error from emit or reject, or a read
// error, stops it.
func (p *SacctParser) Parse(r io.Reader, emit func(Job) error, reject func(Reject) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur *Job
	var curRaw string
	var curBad bool // the current job line was rejected: so are its steps
	flush := func() error {
		if cur == nil {
			return nil
		}
		j := *cur
		cur = nil
		var stepCPU int64
		for _, s := range j.Steps {
			stepCPU += s.CPUTimeMicros
		}
		if j.CPUTimeMicros == 0 {
			j.CPUTimeMicros = stepCPU
		}
		j.StepCount = len(j.Steps)
		j.cleanText()
		return emit(j)
	}
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errLongLine) {
			if rerr := reject(Reject{Line: lineNo, Raw: CleanText(line[:200]), Err: "line longer than 1 MiB"}); rerr != nil {
				return rerr
			}
			continue
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, p.delim)
		if lineNo == 1 && strings.EqualFold(f[0], p.fields[0]) && len(f) == len(p.fields) {
			continue // a header line
		}
		bad := func(msg string) error {
			return reject(Reject{Line: lineNo, Raw: CleanText(line), Err: CleanText(msg)})
		}
		if len(f) != len(p.fields) {
			if err := bad(fmt.Sprintf("%d fields, want %d", len(f), len(p.fields))); err != nil {
				return err
			}
			continue
		}
		raw := p.get(f, "jobidraw")
		if dot := strings.IndexByte(raw, '.'); dot >= 0 {
			// A step line: it belongs to the job line just before it.
			if cur == nil || raw[:dot] != curRaw {
				msg := "step without its job line"
				if curBad && raw[:dot] == curRaw {
					msg = "step of a rejected job line"
				}
				if err := bad(msg); err != nil {
					return err
				}
				continue
			}
			s, err := p.step(f, raw[dot+1:])
			if err != nil {
				if err := bad(err.Error()); err != nil {
					return err
				}
				continue
			}
			cur.Steps = append(cur.Steps, s)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		j, err := p.job(f)
		if err != nil {
			curRaw, curBad = raw, true
			if err := bad(err.Error()); err != nil {
				return err
			}
			continue
		}
		cur, curRaw, curBad = &j, raw, false
	}
	return flush()
}

var errLongLine = errors.New("line too long")

func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		chunk, err := br.ReadSlice('\n')
		if sb.Len()+len(chunk) > maxLine {
			// Drain the rest of the line, keep its start for the reject.
			sb.Write(chunk[:min(len(chunk), 200)])
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			s := sb.String()
			if len(s) < 200 {
				s += strings.Repeat(" ", 200-len(s))
			}
			return s, errLongLine
		}
		sb.Write(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && sb.Len() > 0 {
			return strings.TrimRight(sb.String(), "\r\n"), nil
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(sb.String(), "\r\n"), nil
	}
}

func (p *SacctParser) get(f []string, name string) string {
	if i, ok := p.idx[name]; ok {
		return strings.TrimSpace(f[i])
	}
	return ""
}

func (p *SacctParser) job(f []string) (Job, error) {
	var j Job
	var err error
	if j.JobID, err = strconv.ParseInt(p.get(f, "jobidraw"), 10, 64); err != nil || j.JobID <= 0 {
		return j, fmt.Errorf("JobIDRaw %q is not a job id", p.get(f, "jobidraw"))
	}
	if err := parseJobID(p.get(f, "jobid"), &j); err != nil {
		return j, err
	}
	j.Cluster = p.get(f, "cluster")
	j.Name = p.get(f, "jobname")
	j.User = p.get(f, "user")
	j.Account = p.get(f, "account")
	j.Partition = p.get(f, "partition")
	j.QOS = p.get(f, "qos")
	j.State = normalizeState(p.get(f, "state"))
	j.Reason = p.get(f, "reason")
	j.NodeList = p.get(f, "nodelist")
	if j.NodeList == "None assigned" {
		j.NodeList = ""
	}
	if j.Submit, err = sacctTime(p.get(f, "submit")); err != nil || j.Submit.IsZero() {
		return j, fmt.Errorf("Submit %q is not a time", p.get(f, "submit"))
	}
	for name, dst := range map[string]*time.Time{"eligible": &j.Eligible, "start": &j.Start, "end": &j.End} {
		if *dst, err = sacctTime(p.get(f, name)); err != nil {
			return j, err
		}
	}
	if j.State == "RUNNING" || j.State == "PENDING" {
		j.End = time.Time{}
	}
	if j.ElapsedSeconds, err = p.elapsed(f); err != nil {
		return j, err
	}
	if j.TimeLimitMinutes, err = p.timeLimit(f); err != nil {
		return j, err
	}
	if s := p.get(f, "suspended"); s != "" {
		d, err := ParseSlurmDuration(s)
		if err != nil {
			return j, fmt.Errorf("Suspended: %w", err)
		}
		j.SuspendedSeconds = d / 1_000_000
	}
	if j.CPUTimeMicros, err = p.cpu(f); err != nil {
		return j, err
	}
	code, sig, err := parseExitCode(p.get(f, "exitcode"))
	if err != nil {
		return j, err
	}
	j.ExitCode, j.ExitSignal = &code, sig
	if j.Requested, err = ParseTRES(p.get(f, "reqtres")); err != nil {
		return j, fmt.Errorf("ReqTRES: %w", err)
	}
	if j.Allocated, err = ParseTRES(p.get(f, "alloctres")); err != nil {
		return j, fmt.Errorf("AllocTRES: %w", err)
	}
	return j, nil
}

func (p *SacctParser) step(f []string, id string) (Step, error) {
	s := Step{ID: id, Name: p.get(f, "jobname"), State: normalizeState(p.get(f, "state")), NodeList: p.get(f, "nodelist")}
	if s.NodeList == "None assigned" {
		s.NodeList = ""
	}
	var err error
	if s.ElapsedSeconds, err = p.elapsed(f); err != nil {
		return s, err
	}
	if s.CPUTimeMicros, err = p.cpu(f); err != nil {
		return s, err
	}
	for name, dst := range map[string]*int64{"start": &s.Start, "end": &s.End} {
		t, err := sacctTime(p.get(f, name))
		if err != nil {
			return s, err
		}
		if !t.IsZero() {
			*dst = t.Unix()
		}
	}
	if v := p.get(f, "ntasks"); v != "" {
		if s.Tasks, err = strconv.ParseInt(v, 10, 64); err != nil {
			return s, fmt.Errorf("NTasks %q", v)
		}
	}
	code, _, err := parseExitCode(p.get(f, "exitcode"))
	if err != nil {
		return s, err
	}
	s.ExitCode = &code
	return s, nil
}

func (p *SacctParser) elapsed(f []string) (int64, error) {
	if v := p.get(f, "elapsedraw"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("ElapsedRaw %q", v)
		}
		return n, nil
	}
	if v := p.get(f, "elapsed"); v != "" {
		d, err := ParseSlurmDuration(v)
		if err != nil {
			return 0, fmt.Errorf("Elapsed: %w", err)
		}
		return d / 1_000_000, nil
	}
	return 0, nil
}

func (p *SacctParser) cpu(f []string) (int64, error) {
	v := p.get(f, "totalcpu")
	if v == "" {
		return 0, nil
	}
	d, err := ParseSlurmDuration(v)
	if err != nil {
		return 0, fmt.Errorf("TotalCPU: %w", err)
	}
	return d, nil
}

func (p *SacctParser) timeLimit(f []string) (*int64, error) {
	if v := p.get(f, "timelimitraw"); v != "" {
		switch v {
		case "UNLIMITED", "Partition_Limit", "INVALID":
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("TimelimitRaw %q", v)
		}
		return &n, nil
	}
	if v := p.get(f, "timelimit"); v != "" && v != "UNLIMITED" && v != "Partition_Limit" {
		d, err := ParseSlurmDuration(v)
		if err != nil {
			return nil, fmt.Errorf("Timelimit: %w", err)
		}
		m := d / 60_000_000
		return &m, nil
	}
	return nil, nil
}

// parseJobID reads the display JobID: "123", "4_1" (array task), "4_[1-3]"
// (pending array), "123+1" (het component).
func parseJobID(s string, j *Job) error {
	switch {
	case strings.Contains(s, "_"):
		i := strings.IndexByte(s, '_')
		a, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return fmt.Errorf("JobID %q", s)
		}
		j.ArrayJobID = a
		if t, err := strconv.ParseInt(s[i+1:], 10, 64); err == nil {
			j.ArrayTaskID = &t
		}
	case strings.Contains(s, "+"):
		i := strings.IndexByte(s, '+')
		h, err1 := strconv.ParseInt(s[:i], 10, 64)
		o, err2 := strconv.ParseInt(s[i+1:], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("JobID %q", s)
		}
		j.HetJobID, j.HetOffset = h, &o
	default:
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("JobID %q is not a job id", s)
		}
	}
	return nil
}

func parseExitCode(s string) (code, signal int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, ":")
	c, err1 := strconv.Atoi(a)
	g, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("ExitCode %q", s)
	}
	return c, g, nil
}

// sacctTime reads sacct's times, printed in UTC because Tally runs it with
// TZ=UTC. "Unknown" and "None" are no time.
func sacctTime(s string) (time.Time, error) {
	switch s {
	case "", "Unknown", "None", "N/A":
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q", s)
	}
	return t.UTC(), nil
}

// ParseSlurmDuration reads Slurm's durations into microseconds:
// [D-]HH:MM:SS[.fff], MM:SS[.fff], and SS[.fff].
func ParseSlurmDuration(s string) (int64, error) {
	orig := s
	var days int64
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q", orig)
		}
		days, s = n, rest
	}
	var frac int64
	if whole, f, ok := strings.Cut(s, "."); ok {
		if len(f) == 0 || len(f) > 6 {
			return 0, fmt.Errorf("duration %q", orig)
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q", orig)
		}
		frac = n * int64(math.Pow10(6-len(f)))
		s = whole
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 || (days > 0 && len(parts) != 3) {
		return 0, fmt.Errorf("duration %q", orig)
	}
	// Beyond maxDurationSeconds the microseconds would overflow int64 and
	// wrap to a small or negative elapsed time, which would be charged.
	if days > maxDurationSeconds/86400 {
		return 0, fmt.Errorf("duration %q is too long", orig)
	}
	secs := days * 86400
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || len(p) == 0 {
			return 0, fmt.Errorf("duration %q", orig)
		}
		unit := int64(1)
		for range len(parts) - 1 - i {
			unit *= 60
		}
		if n > (maxDurationSeconds-secs)/unit {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		secs += n * unit
	}
	return secs*1_000_000 + frac, nil
}

// maxDurationSeconds is the longest duration whose microseconds fit in an
// int64 (about 292,000 years).
const maxDurationSeconds = (math.MaxInt64 - 999_999) / 1_000_000

// ParseTRES reads "billing=2,cpu=2,mem=1024M,node=1,gres/gpu:a100=2".
// Memory is converted to MiB from K, M, G, T or P suffixes.
func ParseTRES(s string) (TRES, error) {
	var t TRES
	if s == "" {
		return t, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return t, fmt.Errorf("%q is not name=count", kv)
		}
		typ, name, _ := strings.Cut(k, "/")
		var n int64
		var err error
		if typ == "mem" {
			n, err = parseMiB(v)
		} else {
			n, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return t, fmt.Errorf("%s: %q", k, v)
		}
		if n < 0 && typ != "energy" {
			return t, fmt.Errorf("%s: negative count %q", k, v)
		}
		t.add(typ, name, n)
	}
	t.finish()
	return t, nil
}

func parseMiB(v string) (int64, error) {
	if v == "" {
		return 0, errors.New("empty")
	}
	mult := map[byte]float64{'K': 1.0 / 1024, 'M': 1, 'G': 1024, 'T': 1024 * 1024, 'P': 1024 * 1024 * 1024}
	unit := v[len(v)-1]
	m, ok := mult[unit]
	num := v
	if ok {
		num = v[:len(v)-1]
	} else {
		m = 1
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if unit == 'K' {
			if n < 0 {
				return n / 1024, nil
			}
			return n/1024 + min(n%1024, 1), nil
		}
		if n > math.MaxInt64/int64(m) || n < math.MinInt64/int64(m) {
			return 0, errors.New("too large")
		}
		return n * int64(m), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	// NaN and infinities parse as floats; their int64 conversion is
	// undefined, and past 2^62 MiB no memory size is real.
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f*m > 1<<62 {
		return 0, errors.New("not a size")
	}
	return int64(math.Ceil(f * m)), nil
}
