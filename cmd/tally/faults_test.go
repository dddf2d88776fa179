package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/synth"
)

// faultSite is ten days of generated accounting records served by a sacct
// stand-in that reads the -S day's file. Creating the file "slow" in dir
// makes each answer wait; "hold" makes it wait until the file is removed,
// after creating "held" to say it is waiting.
type faultSite struct {
	dir  string
	from string
	to   string
}

func newFaultSite(t *testing.T) faultSite {
	t.Helper()
	dir := t.TempDir()
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 10)
	files := map[string]*synth.SacctWriter{}
	var closers []*os.File
	err := synth.Generate(synth.Config{Seed: 11, From: from, To: to, JobsPerDay: 200, Cluster: "demo",
		Partitions: []string{"cpu", "gpu", "bigmem", "short", "usage"}}, func(j slurm.Job) error {
		day := j.Submit.UTC().Format("2006-01-02")
		w, ok := files[day]
		if !ok {
			f, err := os.Create(filepath.Join(dir, day+".txt"))
			if err != nil {
				return err
			}
			closers = append(closers, f)
			w = synth.NewSacctWriter(f)
			files[day] = w
		}
		return w.Write(j)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range files {
		w.Flush()
	}
	for _, f := range closers {
		f.Close()
	}
	script := fmt.Sprintf(`#!/bin/sh
dir=%q
while [ $# -gt 0 ]; do [ "$1" = "-S" ] && day=$(echo "$2" | cut -c1-10); shift; done
[ -f "$dir/slow" ] && sleep 0.4
n=0; if [ -f "$dir/hold" ]; then touch "$dir/held"; while [ -f "$dir/hold" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; fi
[ -f "$dir/$day.txt" ] && cat "$dir/$day.txt"
exit 0
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "sacct"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TALLY_SACCT", filepath.Join(dir, "sacct"))
	t.Setenv("TALLY_INGEST_SOURCE", "sacct")
	t.Setenv("TALLY_INGEST_WINDOW", "24h")
	return faultSite{dir: dir, from: from.Format("2006-01-02"), to: to.Format("2006-01-02")}
}

func (s faultSite) touch(name string)  { os.WriteFile(filepath.Join(s.dir, name), nil, 0o644) }
func (s faultSite) remove(name string) { os.Remove(filepath.Join(s.dir, name)) }
func (s faultSite) waitFor(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", name)
}

// ingestArgs ingests the whole site.
func (s faultSite) ingestArgs() []string {
	return []string{"ingest", "--from", s.from, "--to", s.to, "--associations=false"}
}

// runIn runs tally in-process against the database at url.
func runIn(t *testing.T, url string, args ...string) (int, string) {
	t.Helper()
	t.Setenv("TALLY_DATABASE_URL", url)
	code, out, errOut := runCmd(t, args...)
	return code, out + errOut
}

// fingerprint sums up a database's jobs and statements, to compare an
// interrupted-then-repeated history with an uninterrupted one.
func fingerprint(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var jobs, keys int64
	var jobsMD5, stMD5 *string
	ctx := context.Background()
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (cluster, job_id, submit_time)),
			md5(string_agg(cluster || job_id || submit_time::text || content_hash, ',' ORDER BY cluster, job_id, submit_time))
		FROM jobs`).Scan(&jobs, &keys, &jobsMD5); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT md5(string_agg(number || account || jobs || total_micros, ',' ORDER BY number)) FROM statements`).Scan(&stMD5); err != nil {
		t.Fatal(err)
	}
	if jobs != keys {
		t.Errorf("%d job rows for %d identities: duplicates", jobs, keys)
	}
	deref := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	return fmt.Sprintf("jobs=%d %s statements=%s", jobs, deref(jobsMD5), deref(stMD5))
}

// committedOnly checks that the jobs table holds exactly what committed
// ingest windows reported: nothing of an interrupted window.
func committedOnly(t *testing.T, pool *pgxpool.Pool) (windows int) {
	t.Helper()
	var jobs, reported int64
	ctx := context.Background()
	pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs)
	pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(jobs_new), 0) FROM ingest_runs WHERE source <> 'none' AND NOT dry_run`).Scan(&windows, &reported)
	if jobs != reported {
		t.Errorf("%d job rows, but committed windows reported %d new: part of a window was kept", jobs, reported)
	}
	return windows
}

// resumeIngest runs the interrupted ingest again with --resume: it starts
// after the windows already committed.
func resumeIngest(t *testing.T, url string, site faultSite, after string) {
	t.Helper()
	code, out := runIn(t, url, append(site.ingestArgs(), "--resume")...)
	if code != 0 {
		t.Fatalf("ingest --resume after %s: %d\n%s", after, code, out)
	}
	if !strings.Contains(out, "resuming at") {
		t.Errorf("ingest --resume after %s read the range from its start:\n%s", after, out)
	}
}

// billAndClose rates the site's October and closes it, in-process.
func billAndClose(t *testing.T, url string) {
	t.Helper()
	for _, args := range [][]string{
		{"rates", "import", "../../billing/testdata/standard.yaml"},
		{"period", "ensure", "2026-10-01", "2026-11-01"},
		{"rate"},
	} {
		if code, out := runIn(t, url, args...); code != 0 {
			t.Fatalf("%v: %d\n%s", args, code, out)
		}
	}
}

// reference is the uninterrupted history: ingest, rate, close.
func reference(t *testing.T, site faultSite) string {
	t.Helper()
	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	if code, out := runIn(t, url, site.ingestArgs()...); code != 0 {
		t.Fatalf("reference ingest: %d\n%s", code, out)
	}
	billAndClose(t, url)
	if code, out := runIn(t, url, "period", "--ack", "close", "2026-10"); code != 0 {
		t.Fatalf("reference close: %d\n%s", code, out)
	}
	return fingerprint(t, pool)
}

// buildTally builds the binary once per test, for the tests that kill it.
func buildTally(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tally")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startTally starts the binary against url with the test's environment.
func startTally(t *testing.T, bin, url string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TALLY_DATABASE_URL="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func committedWindows(pool *pgxpool.Pool) int {
	var n int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM ingest_runs WHERE source <> 'none'`).Scan(&n)
	return n
}

// blockClose makes the next period close wait, mid-transaction, on a lock
// another session holds; release lets it go on.
func blockClose(t *testing.T, pool *pgxpool.Pool) (waiting func() bool, release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE statement_users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var db string
	pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
	waiting = func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, db).Scan(&n)
		return n > 0
	}
	return waiting, func() { tx.Rollback(ctx) }
}

// closeAgainMatches checks that an interrupted close left October open with
// no statement, then closes it and compares the database with want.
func closeAgainMatches(t *testing.T, pool *pgxpool.Pool, url, want, what string) {
	t.Helper()
	if status, n := closedState(pool); status != "open" || n != 0 {
		t.Fatalf("after %s: period %s with %d statements", what, status, n)
	}
	if code, out := runIn(t, url, "period", "--ack", "close", "2026-10"); code != 0 {
		t.Fatalf("close after %s: %d\n%s", what, code, out)
	}
	if got := fingerprint(t, pool); got != want {
		t.Errorf("after %s and a second close:\n got %s\nwant %s", what, got, want)
	}
}

// closedState says whether October is closed and how many statements exist.
func closedState(pool *pgxpool.Pool) (status string, statements int) {
	ctx := context.Background()
	pool.QueryRow(ctx, `SELECT status FROM billing_periods WHERE name = '2026-10'`).Scan(&status)
	pool.QueryRow(ctx, `SELECT count(*) FROM statements`).Scan(&statements)
	return
}

// restartPostgres does to one database what a fast restart of the server
// does to its clients: every session is terminated (SQLSTATE 57P01), and
// for down the address refuses connections.
func restartPostgres(t *testing.T, proxy *pgtest.Proxy, pool *pgxpool.Pool, down time.Duration) {
	t.Helper()
	proxy.Down()
	if _, err := pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Error(err)
	}
	time.Sleep(down)
	proxy.Up()
}

// Tally killed with SIGKILL in the middle of an ingest, then run again,
// ends where an uninterrupted run ends; SIGTERM lets the window in progress
// commit and stops.
func TestKilledIngestEndsAsUninterrupted(t *testing.T) {
	site := newFaultSite(t)
	want := reference(t, site)
	bin := buildTally(t)

	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	site.touch("slow")
	cmd, _ := startTally(t, bin, url, site.ingestArgs()...)
	waitUntil(t, "three committed windows", func() bool { return committedWindows(pool) >= 3 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	site.remove("slow")
	if n := committedOnly(t, pool); n >= 10 {
		t.Fatalf("the kill came too late (%d windows committed)", n)
	}
	resumeIngest(t, url, site, "the kill")
	billAndClose(t, url)
	runIn(t, url, "period", "--ack", "close", "2026-10")
	if got := fingerprint(t, pool); got != want {
		t.Errorf("after SIGKILL and a second run:\n got %s\nwant %s", got, want)
	}

	// SIGTERM while a window waits on sacct: that window still commits.
	pool2 := pgtest.New(t)
	site.touch("hold")
	cmd, out := startTally(t, bin, pool2.Config().ConnString(), site.ingestArgs()...)
	site.waitFor(t, "held")
	before := committedWindows(pool2)
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond) // the signal is in; now let sacct answer
	site.remove("hold")
	err := cmd.Wait()
	after := committedOnly(t, pool2)
	if after != before+1 {
		t.Errorf("SIGTERM during window %d: %d windows committed, want %d\n%s", before+1, after, before+1, out)
	}
	if err == nil || !strings.Contains(out.String(), "stopped") {
		t.Errorf("after SIGTERM: %v\n%s", err, out)
	}
	var failed int
	pool2.QueryRow(context.Background(), `SELECT count(*) FROM ingest_runs WHERE source = 'none'`).Scan(&failed)
	if failed != 0 {
		t.Errorf("%d windows recorded as failed after a clean stop", failed)
	}
}

// A period close killed mid-transaction leaves the period open with no
// statement; closing again gives the statements an uninterrupted close gives.
func TestKilledCloseIsAllOrNothing(t *testing.T) {
	site := newFaultSite(t)
	want := reference(t, site)
	bin := buildTally(t)

	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	if code, out := runIn(t, url, site.ingestArgs()...); code != 0 {
		t.Fatalf("ingest: %d\n%s", code, out)
	}
	billAndClose(t, url)
	waiting, release := blockClose(t, pool)
	cmd, _ := startTally(t, bin, url, "period", "--ack", "close", "2026-10")
	waitUntil(t, "the close to be mid-transaction", waiting)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	release()
	time.Sleep(100 * time.Millisecond) // the server notices the dead client
	closeAgainMatches(t, pool, url, want, "a killed close")
}

// PostgreSQL restarted during an ingest and during a close: the ingest
// keeps the windows it committed and nothing of the one it was in, and a
// second run completes it; the close is all or nothing.
func TestPostgresRestartDuringIngestAndClose(t *testing.T) {
	site := newFaultSite(t)
	want := reference(t, site)

	direct := pgtest.New(t)
	proxy, url := pgtest.NewProxy(t, direct.Config().ConnString())

	// Window 4 waits on sacct with its transaction open; then the restart.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for committedWindows(direct) < 3 {
			time.Sleep(10 * time.Millisecond)
		}
		site.touch("hold")
	}()
	site.touch("slow")
	go func() {
		site.waitFor(t, "held")
		t.Log("held; restarting")
		restartPostgres(t, proxy, direct, time.Second)
		t.Log("restarted")
		site.remove("hold")
	}()
	code, out := runIn(t, url, site.ingestArgs()...)
	<-done
	site.remove("slow")
	if code == 0 {
		t.Fatalf("ingest through a restart claims success:\n%s", out)
	}
	if n := committedOnly(t, direct); n < 3 || n >= 10 {
		t.Fatalf("%d windows committed around the restart\n%s", n, out)
	}
	resumeIngest(t, url, site, "the restart")
	billAndClose(t, url)

	waiting, release := blockClose(t, direct)
	result := make(chan string, 1)
	go func() {
		code, out := runIn(t, url, "period", "--ack", "close", "2026-10")
		result <- fmt.Sprint(code, " ", out)
	}()
	waitUntil(t, "the close to be mid-transaction", waiting)
	restartPostgres(t, proxy, direct, 500*time.Millisecond)
	release()
	got := <-result
	if strings.HasPrefix(got, "0 ") {
		t.Fatalf("close through a restart claims success: %s", got)
	}
	closeAgainMatches(t, direct, url, want, "a close cut by a restart")
}

// SIGTERM to `tally serve`: a request in flight is answered, the ingest
// window in progress commits, and the process exits cleanly.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if _, err := os.Stat("/etc/pam.d/tally-test"); err != nil {
		testenv.Missing(t, "PAM service tally-test missing: run scripts/test-pam-setup.sh as root")
	}
	site := newFaultSite(t)
	bin := buildTally(t)
	pool := pgtest.New(t)
	t.Setenv("TALLY_ADDR", "127.0.0.1:0")
	t.Setenv("TALLY_PAM_SERVICE", "tally-test")
	t.Setenv("TALLY_INGEST_INTERVAL", "1h") // the first run starts 5 s after start-up
	t.Setenv("TALLY_SACCTMGR", "/bin/false")
	site.touch("hold")
	cmd, out := startTally(t, bin, pool.Config().ConnString(), "serve")
	site.waitFor(t, "held")
	addr := strings.TrimPrefix(serveURL(t, out), "http://")
	// A sign-in is in flight when the signal comes: its handler is
	// reading a body that arrives slowly.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "username=tally-t-alice&password=wrong"
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body[:10])
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request in flight at SIGTERM: %v\n%s", err, out)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("request in flight at SIGTERM: %d", resp.StatusCode)
	}
	site.remove("hold")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, out)
	}
	var ok, failed int
	pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE source <> 'none'), count(*) FILTER (WHERE source = 'none') FROM ingest_runs`).Scan(&ok, &failed)
	if ok != 1 || failed != 0 {
		t.Errorf("window in progress at SIGTERM: %d committed, %d failed; want it committed\n%s", ok, failed, out)
	}
}

// Two `tally serve` processes on one database, as behind a load balancer:
// both schedule ingest and both receive a close request at once; each
// window is ingested once and the period is closed once.
func TestTwoServersIngestAndCloseOnce(t *testing.T) {
	if _, err := os.Stat("/etc/pam.d/tally-test"); err != nil {
		testenv.Missing(t, "PAM service tally-test missing: run scripts/test-pam-setup.sh as root")
	}
	site := newFaultSite(t)
	bin := buildTally(t)
	pool := pgtest.New(t)
	url := pool.Config().ConnString()
	if code, out := runIn(t, url, site.ingestArgs()...); code != 0 {
		t.Fatalf("ingest: %d\n%s", code, out)
	}
	billAndClose(t, url)
	before := committedWindows(pool)

	t.Setenv("TALLY_ADDR", "127.0.0.1:0")
	t.Setenv("TALLY_PAM_SERVICE", "tally-test")
	t.Setenv("TALLY_INGEST_INTERVAL", "1h") // each runs once, 5 s after start
	t.Setenv("TALLY_SACCTMGR", "/bin/false")
	t.Setenv("TALLY_LOGIN_FAILURE_FLOOR", "0s")
	// Both schedulers fire 5 s after start, within milliseconds of each
	// other; a run of 45 windows holds the lock for seconds.
	var addrs []string
	var logs []*bytes.Buffer
	for range 2 {
		_, out := startTally(t, bin, url, "serve")
		logs = append(logs, out)
	}
	for _, out := range logs {
		addrs = append(addrs, serveURL(t, out))
	}
	// Both try their scheduled ingest; one holds the lock, one skips.
	waitUntil(t, "both servers' scheduled ingest", func() bool {
		n := 0
		for _, out := range logs {
			if strings.Contains(out.String(), "ingest finished") || strings.Contains(out.String(), "ingest skipped") {
				n++
			}
		}
		return n == 2
	})
	var windows, distinct int
	pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT window_start) FROM ingest_runs WHERE trigger = 'schedule'`).Scan(&windows, &distinct)
	ran := strings.Count(logs[0].String()+logs[1].String(), "ingest finished")
	skipped := strings.Count(logs[0].String()+logs[1].String(), "ingest skipped")
	if windows == 0 || windows != distinct || ran != 1 || skipped != 1 || committedWindows(pool) != before+windows {
		t.Errorf("two servers: %d scheduled windows (%d distinct), %d runs, %d skipped\n%s\n%s", windows, distinct, ran, skipped, logs[0], logs[1])
	}

	// An admin on each server closes October at the same moment.
	clients := make([]*http.Client, 2)
	for i, addr := range addrs {
		jar, _ := cookiejar.New(nil)
		clients[i] = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := clients[i].PostForm(addr+"/login", neturl.Values{"username": {"tally-t-admin"}, "password": {"tally-admin-pw"}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login on server %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := clients[i].PostForm(addr+"/periods/2026-10/close", neturl.Values{"ack": {"1"}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	var closes, statements, accounts int
	ctx := context.Background()
	pool.QueryRow(ctx, `SELECT count(*) FROM admin_events WHERE action = 'period_closed'`).Scan(&closes)
	pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT account) FROM statements`).Scan(&statements, &accounts)
	if status, _ := closedState(pool); status != "closed" || closes != 1 || statements != accounts || statements == 0 {
		t.Errorf("after two simultaneous closes: period %s, %d close events, %d statements for %d accounts", status, closes, statements, accounts)
	}
}

// serveURL waits for a started `tally serve` to log where it listens.
func serveURL(t *testing.T, log *bytes.Buffer) string {
	t.Helper()
	url := ""
	waitUntil(t, "the server to listen", func() bool {
		for _, f := range strings.Fields(log.String()) {
			if strings.HasPrefix(f, "url=http://") {
				url = strings.TrimPrefix(f, "url=")
			}
		}
		return url != ""
	})
	return url
}
