package jobstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
)

var windowBase = time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC)

// job is a job of the window tests: ended when end is not zero.
func job(id int64, state string, endAfter time.Duration) slurm.Job {
	j := slurm.Job{Cluster: "testbed", JobID: id, Submit: windowBase.Add(time.Duration(id) * time.Minute), User: "alice", Account: "physics",
		Partition: "cpu", State: state}
	j.Start = j.Submit
	if endAfter > 0 {
		j.End = j.Start.Add(endAfter)
		j.ElapsedSeconds = int64(endAfter / time.Second)
	}
	j.Requested.CPU, j.Allocated.CPU = 4, 4
	return j
}

func ingestWindow(t *testing.T, s *Store, dry bool, jobs ...slurm.Job) Counts {
	t.Helper()
	c, err := tryWindow(s, dry, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryWindow(s *Store, dry bool, jobs ...slurm.Job) (Counts, error) {
	ctx := context.Background()
	w, err := s.Begin(ctx, "rest")
	if err != nil {
		return Counts{}, err
	}
	for _, j := range jobs {
		if err := w.Add(ctx, j); err != nil {
			w.Abort()
			return Counts{}, err
		}
	}
	return w.Commit(ctx, Run{Cluster: "testbed", WindowStart: windowBase, WindowEnd: windowBase.Add(time.Hour), Source: "rest", Trigger: "test", Started: time.Now(), DryRun: dry})
}

func storedState(t *testing.T, pool *pgxpool.Pool, id int64) (state string, ended bool) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `SELECT state, end_time IS NOT NULL FROM jobs WHERE job_id = $1`, id).Scan(&state, &ended); err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return
}

// A window's new jobs are copied straight in and the known ones merged;
// what it counts and what it keeps must be what an upsert of every record
// would give, whichever path a record took.
func TestWindowKeepsTheUpsertRules(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()

	if c := ingestWindow(t, s, false, job(1, "COMPLETED", time.Hour), job(2, "RUNNING", 0), job(3, "COMPLETED", time.Hour)); c != (Counts{New: 3}) {
		t.Errorf("first window: %+v", c)
	}
	if c := ingestWindow(t, s, false, job(1, "COMPLETED", time.Hour), job(2, "RUNNING", 0), job(3, "COMPLETED", time.Hour)); c != (Counts{Unchanged: 3}) {
		t.Errorf("the same again: %+v", c)
	}
	if c := ingestWindow(t, s, false, job(1, "COMPLETED", time.Hour), job(2, "COMPLETED", 2*time.Hour), job(4, "PENDING", 0)); c != (Counts{New: 1, Changed: 1, Unchanged: 1}) {
		t.Errorf("one new, one changed, one the same: %+v", c)
	}
	if st, ended := storedState(t, pool, 2); st != "COMPLETED" || !ended {
		t.Errorf("job 2 after it ended: %s ended=%v", st, ended)
	}

	// Twice in one window: the ended version wins over a later running
	// one, and of two running versions the later; for a new job (copied
	// straight in, then merged) as for a stored one (merged twice).
	for _, tc := range []struct {
		name      string
		versions  []slurm.Job
		wantState string
		want      Counts
	}{
		{"new: running, then ended", []slurm.Job{job(10, "RUNNING", 0), job(10, "COMPLETED", time.Hour)}, "COMPLETED", Counts{New: 1}},
		{"new: ended, then running", []slurm.Job{job(11, "COMPLETED", time.Hour), job(11, "RUNNING", 0)}, "COMPLETED", Counts{New: 1}},
		{"new: pending, then running", []slurm.Job{job(12, "PENDING", 0), job(12, "RUNNING", 0)}, "RUNNING", Counts{New: 1}},
		{"stored: running, then ended", []slurm.Job{job(4, "RUNNING", 0), job(4, "FAILED", time.Minute)}, "FAILED", Counts{Changed: 1}},
		{"stored: ended, then running", []slurm.Job{job(3, "TIMEOUT", 3*time.Hour), job(3, "RUNNING", 0)}, "TIMEOUT", Counts{Changed: 1}},
		{"stored: the same twice", []slurm.Job{job(1, "COMPLETED", time.Hour), job(1, "COMPLETED", time.Hour)}, "COMPLETED", Counts{Unchanged: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := ingestWindow(t, s, false, tc.versions...); c != tc.want {
				t.Errorf("counts %+v, want %+v", c, tc.want)
			}
			if st, _ := storedState(t, pool, tc.versions[0].JobID); st != tc.wantState {
				t.Errorf("kept %s, want %s", st, tc.wantState)
			}
		})
	}

	t.Run("a dry run counts and keeps nothing", func(t *testing.T) {
		if c := ingestWindow(t, s, true, job(20, "COMPLETED", time.Hour), job(1, "FAILED", time.Hour)); c != (Counts{New: 1, Changed: 1}) {
			t.Errorf("dry run: %+v", c)
		}
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE job_id = 20 OR (job_id = 1 AND state = 'FAILED')`).Scan(&n)
		if n != 0 {
			t.Errorf("a dry run stored %d rows", n)
		}
	})

	t.Run("many chunks with repeats across them", func(t *testing.T) {
		var jobs []slurm.Job
		for i := range int64(3 * chunkSize) {
			jobs = append(jobs, job(1000+i, "RUNNING", 0))
		}
		for i := range int64(chunkSize) { // the first chunk's jobs again, ended
			jobs = append(jobs, job(1000+i, "COMPLETED", time.Hour))
		}
		if c := ingestWindow(t, s, false, jobs...); c != (Counts{New: 3 * chunkSize}) {
			t.Errorf("counts %+v", c)
		}
		var ended, total int
		pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE end_time IS NOT NULL), count(*) FROM jobs WHERE job_id >= 1000`).Scan(&ended, &total)
		if ended != chunkSize || total != 3*chunkSize {
			t.Errorf("%d ended of %d", ended, total)
		}
		var queued int
		pool.QueryRow(ctx, `SELECT count(DISTINCT u.job_row) FROM jobs_unrated u JOIN jobs j ON j.id = u.job_row WHERE j.job_id >= 1000`).Scan(&queued)
		if queued != 3*chunkSize {
			t.Errorf("%d of %d jobs queued for rating", queued, 3*chunkSize)
		}
	})

	t.Run("a record the table refuses leaves nothing of its window", func(t *testing.T) {
		bad := job(30, "COMPLETED", time.Hour)
		bad.Requested.CPU = -1 // refused by jobs_req_cpu_check, in the copy
		w, err := s.Begin(ctx, "rest")
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range []slurm.Job{job(31, "COMPLETED", time.Hour), bad} {
			w.Add(ctx, j)
		}
		if _, err := w.Commit(ctx, Run{Cluster: "testbed", Source: "rest", Trigger: "test", Started: time.Now()}); err == nil {
			t.Fatal("a refused record committed")
		}
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE job_id IN (30, 31)`).Scan(&n)
		if n != 0 {
			t.Errorf("%d rows of a failed window stored", n)
		}
	})

	t.Run("an aborted window leaves nothing", func(t *testing.T) {
		w, err := s.Begin(ctx, "rest")
		if err != nil {
			t.Fatal(err)
		}
		for i := range int64(chunkSize + 10) {
			w.Add(ctx, job(50000+i, "COMPLETED", time.Hour))
		}
		w.Abort()
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE job_id >= 50000`).Scan(&n)
		if n != 0 {
			t.Errorf("%d rows of an aborted window stored", n)
		}
	})
}

// Two windows of one cluster holding the same new jobs at once (the
// scheduled run and a person's refresh): both commit, each job is stored
// once, and between them they count it new once.
func TestConcurrentWindowsStoreAJobOnce(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	var jobs []slurm.Job
	for i := range int64(2*chunkSize + 7) {
		jobs = append(jobs, job(100+i, "COMPLETED", time.Hour))
	}
	var wg sync.WaitGroup
	counts := make([]Counts, 4)
	for k := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if counts[k], err = tryWindow(s, false, jobs...); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var news int
	for _, c := range counts {
		news += c.New
		if c.Total() != len(jobs) {
			t.Errorf("a window counted %+v of %d records", c, len(jobs))
		}
	}
	var n int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n)
	if n != len(jobs) || news != len(jobs) {
		t.Errorf("%d rows stored and %d counted new, of %d jobs", n, news, len(jobs))
	}
}
