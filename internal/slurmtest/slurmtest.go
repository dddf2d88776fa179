// Package slurmtest drives the real Slurm testbed from tests: submitting
// small jobs as its users and stopping and restarting its daemons.
package slurmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/testenv"
)

// Submit runs sbatch as user with args and returns the job id. With wait,
// sbatch -W returns when the job has ended.
func Submit(t testing.TB, tb testenv.Slurm, user string, wait bool, args ...string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := []string{"-u", user, "--", "sbatch", "--parsable", "--chdir=/tmp", "-o", "/dev/null"}
	if wait {
		full = append(full, "-W")
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "runuser", full...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	out, err := cmd.Output()
	// sbatch -W exits with the job's own exit code.
	if _, ok := err.(*exec.ExitError); ok && wait && len(out) > 0 {
		err = nil
	}
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("sbatch %v as %s: %v %s", args, user, err, stderr)
	}
	line := strings.TrimSpace(strings.Split(string(out), "\n")[0])
	id, err := strconv.ParseInt(strings.Split(line, ";")[0], 10, 64)
	if err != nil {
		t.Fatalf("sbatch printed %q", out)
	}
	return id
}

// Scancel cancels a job as root.
func Scancel(t testing.TB, tb testenv.Slurm, id int64) {
	cmd := exec.Command("scancel", strconv.FormatInt(id, 10))
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v %s", err, out)
	}
}

// KillRestd kills the testbed's slurmrestd with SIGKILL, as the OOM killer
// or a crash would, and restores it (up.sh) when the test ends.
func KillRestd(t testing.TB, tb testenv.Slurm) {
	t.Helper()
	dir := os.Getenv("SLURM_TESTBED_DIR")
	if dir == "" {
		dir = "/tmp/slurm-testbed"
	}
	b, err := os.ReadFile(filepath.Join(dir, "pids", "slurmrestd.pid"))
	if err != nil {
		t.Fatalf("slurmrestd pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill slurmrestd: %v", err)
	}
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		up := os.Getenv("SLURM_TESTBED_UP")
		if up == "" {
			up = "../../test/slurm/22.05/up.sh" // from a package two levels down
		}
		if out, err := exec.Command(up).CombinedOutput(); err != nil {
			t.Errorf("restarting the testbed: %v\n%s", err, out)
		}
	})
}

// Sacctmgr runs sacctmgr -i with args as root.
func Sacctmgr(t testing.TB, tb testenv.Slurm, args ...string) {
	t.Helper()
	cmd := exec.Command("sacctmgr", append([]string{"-i"}, args...)...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "Nothing new added") {
		t.Fatalf("sacctmgr %v: %v %s", args, err, out)
	}
}

// WaitRunning waits until job id is running (slurmctld says so).
func WaitRunning(t testing.TB, tb testenv.Slurm, id int64, max time.Duration) {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		cmd := exec.Command("scontrol", "show", "job", strconv.FormatInt(id, 10))
		cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
		out, _ := cmd.Output()
		if strings.Contains(string(out), "JobState=RUNNING") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d not running after %s: %s", id, max, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
