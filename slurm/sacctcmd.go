package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Sacct runs the sacct command, Tally's fallback when slurmrestd cannot
// answer.
type Sacct struct {
	Path    string // the sacct binary; "sacct" looks it up in PATH
	Cluster string // -M, when set
	// Token, when set, supplies SLURM_JWT for sites where sacct
	// authenticates with JWT; munge-authenticated sites leave it nil.
	Token func(ctx context.Context) (Credential, error)
}

// SacctArgs are the arguments Tally passes for a window (and, when user is
// set, one user's jobs instead of all).
func SacctArgs(from, to time.Time, cluster, user string) []string {
	args := []string{
		"--parsable2", "--noheader", "--noconvert", "--duplicates",
		"--delimiter=" + SacctDelimiter,
		"--format=" + SacctFormat,
		"-S", from.UTC().Format("2006-01-02T15:04:05"),
		"-E", to.UTC().Format("2006-01-02T15:04:05"),
	}
	if user != "" {
		args = append(args, "-u", user)
	} else {
		args = append(args, "-a")
	}
	if cluster != "" {
		args = append(args, "-M", cluster)
	}
	return args
}

// Jobs runs sacct for [from, to) and streams its output through the
// parser: records to emit, unreadable lines to reject.
func (s *Sacct) Jobs(ctx context.Context, from, to time.Time, user string, emit func(Job) error, reject func(Reject) error) error {
	path := s.Path
	if path == "" {
		path = "sacct"
	}
	cmd := exec.CommandContext(ctx, path, SacctArgs(from, to, s.Cluster, user)...)
	cmd.Env = commandEnv()
	if s.Token != nil {
		cred, err := s.Token(ctx)
		if err != nil {
			return err
		}
		cmd.Env = commandEnv("SLURM_JWT=" + cred.Token.Value)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, left: 8 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sacct: %w", err)
	}
	p, err := NewSacctParser(SacctFormat, SacctDelimiter)
	if err != nil {
		return err
	}
	perr := p.Parse(out, emit, reject)
	if perr != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if perr != nil {
		return perr
	}
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		var ee *exec.ExitError
		if errors.As(werr, &ee) && msg != "" {
			return fmt.Errorf("sacct exited %d: %s", ee.ExitCode(), msg)
		}
		return fmt.Errorf("sacct: %w", werr)
	}
	return nil
}

// commandEnv is the whole environment of the Slurm commands Tally runs
// (sacct, sacctmgr), then extra. Tally's own environment holds secrets,
// TALLY_DATABASE_URL's password first, which a child has no business
// seeing, so only this is passed: PATH, the operator's SLURM_* settings
// (SLURM_CONF above all) and what the parsers rely on: times in UTC in
// Slurm's standard form (sacctTime, whatever SLURM_TIME_FORMAT the
// operator's shell prefers) and untranslated output from the C locale.
// An extra variable replaces one of the same name.
func commandEnv(extra ...string) []string {
	fixed := []string{"LANG=C", "LC_ALL=C", "TZ=UTC", "SLURM_TIME_FORMAT=standard"}
	set := map[string]bool{}
	for _, kv := range append(fixed, extra...) {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var env []string
	if p, ok := os.LookupEnv("PATH"); ok {
		env = append(env, "PATH="+p)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLURM_") && !set[k] {
			env = append(env, kv)
		}
	}
	return append(append(env, fixed...), extra...)
}

type limitedWriter struct {
	w    *bytes.Buffer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.left > 0 {
		if len(p) > l.left {
			p = p[:l.left]
		}
		l.w.Write(p)
		l.left -= len(p)
	}
	return n, nil
}
