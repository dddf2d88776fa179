package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/migrations"
)

// Replicated is a private PostgreSQL primary with a streaming standby,
// both started from the machine's PostgreSQL binaries for one test and
// removed after it: a real replica, with real replication lag.
type Replicated struct {
	PrimaryURL, ReplicaURL string // database "tally", migrated on the primary

	t       testing.TB
	bin     string
	runAs   []string
	primary string // data directories
	standby string
}

// NewReplicated starts a primary (initdb), migrates a database on it, and
// starts a standby made with pg_basebackup. As root the servers run as the
// postgres user (initdb refuses root).
func NewReplicated(t testing.TB) *Replicated {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	if len(bins) == 0 {
		testenv.Missing(t, "no PostgreSQL server binaries under /usr/lib/postgresql (the postgresql package)")
	}
	r := &Replicated{t: t, bin: bins[len(bins)-1]}
	dir, err := os.MkdirTemp("/var/tmp", "tally-replica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "no postgres user to run a private PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		r.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	r.primary, r.standby = filepath.Join(dir, "primary"), filepath.Join(dir, "standby")
	pport, sport := freePort(t), freePort(t)

	r.run("initdb", "-D", r.primary, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	r.appendConf(r.primary, fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"wal_level = replica\nmax_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n", pport, dir))
	r.start(r.primary)
	t.Cleanup(func() { r.stop(r.primary) })

	r.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(pport), "-U", "postgres", "-D", r.standby, "-R", "-X", "stream", "--no-sync")
	r.appendConf(r.standby, fmt.Sprintf("port = %d\nhot_standby = on\n", sport))
	r.start(r.standby)
	t.Cleanup(func() { r.stop(r.standby) })

	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pport)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE tally`); err != nil {
		t.Fatal(err)
	}
	r.PrimaryURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/tally?sslmode=disable", pport)
	r.ReplicaURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/tally?sslmode=disable", sport)
	pool, err := pgxpool.New(ctx, r.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := migrations.New(pool)
	if err == nil {
		_, err = m.Up(ctx)
		m.Close()
	}
	if err != nil {
		t.Fatalf("migrate the primary: %v", err)
	}
	return r
}

// StopReplica stops the standby (fast shutdown); StartReplica starts it
// again, and it catches up from the primary.
func (r *Replicated) StopReplica()  { r.stop(r.standby) }
func (r *Replicated) StartReplica() { r.start(r.standby) }

func (r *Replicated) run(name string, args ...string) {
	r.t.Helper()
	full := append(append([]string{}, r.runAs...), append([]string{filepath.Join(r.bin, name)}, args...)...)
	out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (r *Replicated) start(data string) {
	r.t.Helper()
	r.run("pg_ctl", "-D", data, "-l", data+".log", "-w", "-t", "60", "start")
}

func (r *Replicated) stop(data string) {
	full := append(append([]string{}, r.runAs...), filepath.Join(r.bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
	exec.Command(full[0], full[1:]...).Run()
}

func (r *Replicated) appendConf(data, lines string) {
	r.t.Helper()
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(lines); err != nil {
		r.t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func pgMajor(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}
