package web

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/replica"
)

// Pages read from a real streaming replica (pg_basebackup, a standby on
// its own port) while it keeps up; a person who just changed something
// reads the primary until the replica has it; a lagging replica is named
// on the page, one too far behind or stopped is replaced by the primary,
// and one that comes back is used again.
func TestPagesFromReadReplica(t *testing.T) {
	const away = 4 * time.Second
	r := replicatedRouter(t, away, 100*time.Millisecond)
	rep, primary, standby, router := r.rep, r.primary, r.standby, r.router
	ctx := context.Background()

	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		d.Pool, d.Reads = primary, router
		d.Ready = func(ctx context.Context) error { return primary.Ping(ctx) }
		c.ReadLagNotice = time.Second
	})
	seedWithPeriod(t, e)
	waitFor := func(what string, cond func(lag time.Duration, usable bool) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if cond(router.Status()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		lag, usable := router.Status()
		t.Fatalf("timed out waiting for %s (lag %s, usable %v)", what, lag, usable)
	}
	// has says the replica holds everything committed before t.
	has := func(t time.Time) func(time.Duration, bool) bool {
		return func(lag time.Duration, usable bool) bool { return usable && time.Now().Add(-lag).After(t) }
	}

	alice := newBrowser(t, e)
	alice.login("tally-t-alice", "tally-alice-pw", "/")
	// A second session of alice's that changes nothing.
	other := newBrowser(t, e)
	other.login("tally-t-alice", "tally-alice-pw", "/")
	// A sign-in is a change: each session reads the primary until the
	// replica has it.
	waitFor("the replica to have the sign-ins", has(time.Now()))
	jobs := func(b *browser) string {
		t.Helper()
		resp, body := b.get("/jobs")
		if resp.StatusCode != 200 {
			t.Fatalf("/jobs: %d\n%s", resp.StatusCode, body)
		}
		return body
	}
	const notice = "read from a copy of the database"
	if body := jobs(other); !strings.Contains(body, "alice&#39;s job") || strings.Contains(body, notice) {
		t.Fatalf("caught-up replica: job list wrong or names a lag")
	}

	// Replay stops: the replica falls behind while the primary gets a job.
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	addJob(t, primary, 201, "after the pause")
	wrote := time.Now()
	waitFor("a lag over the notice", func(lag time.Duration, usable bool) bool { return usable && lag > 1500*time.Millisecond })
	body := jobs(other)
	if strings.Contains(body, "after the pause") || !strings.Contains(body, notice) {
		t.Errorf("lagging replica: the page should miss the new job and say it is behind (has job: %v, notice: %v)",
			strings.Contains(body, "after the pause"), strings.Contains(body, notice))
	}

	// alice changes something: her pages read the primary from now on,
	// until the replica has her change; her other session still reads
	// the replica.
	alice.post("/refresh", url.Values{})
	if body := jobs(alice); !strings.Contains(body, "after the pause") || strings.Contains(body, notice) {
		t.Errorf("after her own change alice reads the replica")
	}
	if body := jobs(other); strings.Contains(body, "after the pause") {
		t.Errorf("a session that changed nothing moved to the primary")
	}

	// Too far behind: everyone reads the primary, and no notice.
	waitFor("the replica to count as away", func(lag time.Duration, usable bool) bool { return !usable })
	if body := jobs(other); !strings.Contains(body, "after the pause") || strings.Contains(body, notice) {
		t.Errorf("replica too far behind: pages should read the primary")
	}

	// Replay resumes: the replica is used again, and has the job.
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor("the replica to catch up again", has(wrote))
	if body := jobs(other); !strings.Contains(body, "after the pause") || strings.Contains(body, notice) {
		t.Errorf("caught-up replica: the job list lacks the new job")
	}

	// The replica stops: pages go on from the primary; it comes back and
	// is used again.
	rep.StopReplica()
	waitFor("the stopped replica to count as away", func(lag time.Duration, usable bool) bool { return !usable })
	addJob(t, primary, 202, "while the replica was down")
	wrote = time.Now()
	for _, path := range []string{"/", "/jobs", "/me", "/statements"} {
		if resp, body := other.get(path); resp.StatusCode != 200 {
			t.Errorf("%s with the replica down: %d\n%s", path, resp.StatusCode, body)
		}
	}
	if body := jobs(other); !strings.Contains(body, "while the replica was down") {
		t.Errorf("replica down: pages should read the primary")
	}
	rep.StartReplica()
	waitFor("the restarted replica", has(wrote))
	if body := jobs(other); !strings.Contains(body, "while the replica was down") || strings.Contains(body, notice) {
		lag, usable := router.Status()
		var n int
		var rp, ip string
		standby.QueryRow(ctx, `SELECT count(*), pg_last_wal_replay_lsn()::text FROM jobs WHERE job_id = 202`).Scan(&n, &rp)
		primary.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&ip)
		t.Logf("standby has %d rows of job 202 at replay %s; primary insert %s", n, rp, ip)
		t.Errorf("restarted replica (lag %s, usable %v): the job list lacks what was written while it was down:\n%s", lag, usable, body[strings.Index(body, "<main"):])
	}
}

// addJob writes one ended job of alice's straight into the primary, as
// ingest would.
func addJob(t *testing.T, pool *pgxpool.Pool, id int64, name string) {
	t.Helper()
	end := time.Now().UTC().Add(-time.Hour)
	if _, err := pool.Exec(context.Background(), `SELECT ensure_month_partitions($1, $1)`, end.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO jobs (cluster, job_id, submit_time, name, username, account, partition,
		state, start_time, end_time, elapsed_seconds, req_cpu, content_hash, source)
		VALUES ('testbed', $1, $2, $3, 'tally-t-alice', 'physics', 'cpu', 'COMPLETED', $2, $4, 3600, 1, 'x', 'demo')`,
		id, end.Add(-time.Hour), name, end); err != nil {
		t.Fatal(err)
	}
}

// replicatedRouter starts a private primary and streaming standby
// (pgtest.NewReplicated), opens a pool on each, and runs the router Tally
// uses to choose between them, sampling every `every`; a standby more than
// away behind is left out.
type replicated struct {
	rep              *pgtest.Replicated
	primary, standby *pgxpool.Pool
	router           *replica.Router
}

func replicatedRouter(t *testing.T, away, every time.Duration) replicated {
	t.Helper()
	rep := pgtest.NewReplicated(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	primary, err := pgxpool.New(ctx, rep.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	standby, err := pgxpool.New(ctx, rep.ReplicaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)
	router := replica.New(primary, standby, away, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go router.Run(ctx, every)
	return replicated{rep: rep, primary: primary, standby: standby, router: router}
}
