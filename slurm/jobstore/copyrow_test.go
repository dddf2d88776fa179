package jobstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
)

// pgxRow is a record as pgx's generic CopyFrom took it before the binary
// encoder: the oracle appendRow is held to.
func pgxRow(j slurm.Job, source string) []any {
	var exit any
	if j.ExitCode != nil {
		exit = int32(*j.ExitCode)
	}
	return []any{
		j.Cluster, j.JobID, j.Submit, j.ArrayJobID, j.ArrayTaskID, j.HetJobID, j.HetOffset,
		j.Name, j.User, j.Account, j.Partition, j.QOS, j.State, j.Reason, exit, int32(j.ExitSignal),
		ts(j.Eligible), ts(j.Start), ts(j.End), j.ElapsedSeconds, j.TimeLimitMinutes, j.SuspendedSeconds,
		j.CPUTimeMicros, j.Requested.CPU, j.Requested.MemMiB, j.Requested.Nodes, j.Requested.Billing, j.Requested.GPU, gpuTypes(j.Requested.GPUByType),
		j.Allocated.CPU, j.Allocated.MemMiB, j.Allocated.Nodes, j.Allocated.Billing, j.Allocated.GPU, gpuTypes(j.Allocated.GPUByType), j.Allocated.EnergyJ,
		j.NodeList, int32(j.StepCount), slurm.AppendStepsJSON(nil, j.Steps), j.Hash(), source,
	}
}

// Every recorded answer's jobs, and the awkward values a job can carry,
// land in the table the same through the binary encoder as through pgx.
func TestRowEncodingMatchesPgx(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	var jobs []slurm.Job
	files, _ := filepath.Glob("../testdata/upstream/*/*/slurmdb-job-*.json")
	more, _ := filepath.Glob("../testdata/testbed/slurmdb-v0.0.3*-jobs.json")
	for _, f := range append(files, more...) {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := slurm.DecodeJobs(r, func(j slurm.Job) error { jobs = append(jobs, j); return nil }); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r.Close()
	}
	if len(jobs) < 50 {
		t.Fatalf("only %d fixture jobs", len(jobs))
	}
	exit, task, off, limit := -3, int64(7), int64(0), int64(1<<40)
	odd := slurm.Job{Cluster: "c", JobID: 1 << 50, Submit: time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		ArrayJobID: 9, ArrayTaskID: &task, HetJobID: 3, HetOffset: &off, Name: "tab\there \"q\" ü€ 𝄞", User: "u", State: "FAILED",
		ExitCode: &exit, ExitSignal: 9, Start: time.Date(2038, 1, 19, 3, 14, 8, 123456789, time.UTC), TimeLimitMinutes: &limit,
		ElapsedSeconds: -1, CPUTimeMicros: 1 << 62,
		Requested: slurm.TRES{CPU: 1, GPU: 3, GPUByType: map[string]int64{"a100": 2, "h100": 1}},
		Allocated: slurm.TRES{EnergyJ: 5, GPUByType: map[string]int64{"a\"b": 1}},
		StepCount: 2, Steps: []slurm.Step{{ID: "1.0", State: "X", ExitCode: &exit, NodeList: "n[1-2]"}, {ID: "1.batch"}}}
	jobs = append(jobs, odd, slurm.Job{Cluster: "c", JobID: 2, Submit: time.Unix(1, 0), User: "u", State: "PENDING"})
	for i := range jobs {
		jobs[i].JobID += int64(i) << 32 // distinct, whatever the fixtures repeat
	}
	for _, table := range []string{"via_pgx", "via_binary"} {
		if _, err := pool.Exec(ctx, `CREATE TABLE `+table+` (LIKE jobs INCLUDING DEFAULTS)`); err != nil {
			t.Fatal(err)
		}
	}
	rows := make([][]any, len(jobs))
	for i, j := range jobs {
		rows[i] = pgxRow(j, "rest")
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"via_pgx"}, Columns(), pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	i := 0
	n, err := CopyJobs(ctx, conn.Conn(), "via_binary", "rest", func(j *slurm.Job) bool {
		if i == len(jobs) {
			return false
		}
		*j, i = jobs[i], i+1
		return true
	})
	if err != nil || n != int64(len(jobs)) {
		t.Fatalf("binary copy: %d rows, %v", n, err)
	}
	cols := columnsNoSeq
	var differ int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ((SELECT `+cols+` FROM via_pgx EXCEPT ALL SELECT `+cols+` FROM via_binary)
		UNION ALL (SELECT `+cols+` FROM via_binary EXCEPT ALL SELECT `+cols+` FROM via_pgx)) d`).Scan(&differ); err != nil {
		t.Fatal(err)
	}
	if differ != 0 {
		t.Fatalf("%d of %d rows differ between the encoders", differ, len(jobs))
	}
}
