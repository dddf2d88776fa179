package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
)

// ArchiveStore detaches closed months of jobs and charges (the monthly
// partitions of migration 00020) after writing them to files and checking
// the files against the tables, and lists what is archived and what is
// still attached. docs/scaling.md ("Archiving closed months") says what an
// operator sees and how to restore a month.
type ArchiveStore struct {
	pool *pgxpool.Pool
}

// ArchiveOptions is one run of the archive.
type ArchiveOptions struct {
	Month      time.Time // any time in the month (UTC)
	Dir        string    // where the files go; made if missing
	DryRun     bool      // check, write and verify, detach nothing
	KeepTables bool      // leave the detached tables in the database (not dropped)
	By         string    // who archives, for archived_months
	Now        time.Time // zero: the clock; "the current month" is Now's
	// Progress, when set, is told each step (for a person watching).
	Progress func(format string, args ...any)

	// afterWrite runs between writing the files and verifying them:
	// tests damage a file here.
	afterWrite func(m *ArchiveManifest) error
	// lockWait replaces detachLockWait (tests).
	lockWait time.Duration
}

// ArchiveResult is what a run wrote and did.
type ArchiveResult struct {
	Manifest     ArchiveManifest
	ManifestPath string
	Detached     bool // false for a dry run
	Dropped      bool // the detached tables were dropped
}

// ArchiveBlocked is a refusal before anything was written: each reason
// names what stands in the way, with counts.
type ArchiveBlocked struct {
	Month   string
	Reasons []string
}

func (e *ArchiveBlocked) Error() string {
	return e.Month + " cannot be archived: " + strings.Join(e.Reasons, "; ")
}

// monthTables are the names of a month's pair of partitions.
type monthTables struct {
	month   time.Time // first instant, UTC
	label   string    // 2026-10
	jobs    string    // jobs_2026_10
	charges string    // job_charges_2026_10
}

func tablesOf(t time.Time) monthTables {
	t = t.UTC()
	m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	suffix := m.Format("2006_01")
	return monthTables{month: m, label: m.Format("2006-01"), jobs: "jobs_" + suffix, charges: "job_charges_" + suffix}
}

// The keys each partition's rows are written and fingerprinted in: the
// primary keys.
var (
	jobsKey    = []string{"id", "submit_time"}
	chargesKey = []string{"job_row", "job_submit", "portion_start"}
)

// jobStatesNotEnded are Slurm states of a job that has not finished.
var jobStatesNotEnded = []string{"RUNNING", "PENDING", "SUSPENDED"}

// Archive checks that a month can be archived, writes its two partitions
// and a manifest to opt.Dir, verifies the files against the partitions,
// and (unless a dry run) detaches the partitions in one transaction that
// first keeps what the figures need of them (migration 00021) and records
// the month in archived_months. A refusal (*ArchiveBlocked) comes before
// anything is written; a file that does not verify aborts with nothing
// detached.
func (s *ArchiveStore) Archive(ctx context.Context, opt ArchiveOptions) (_ ArchiveResult, err error) {
	mt := tablesOf(opt.Month)
	defer func() {
		var blocked *ArchiveBlocked
		if !errors.As(err, &blocked) {
			annotate(&err, "archiving %s", mt.label)
		}
	}()
	var res ArchiveResult
	say := opt.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if strings.TrimSpace(opt.Dir) == "" {
		return res, errors.New("no directory to write the archive to")
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return res, err
	}
	conn, err := s.session(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())

	say("checking %s", mt.label)
	if reasons, err := blockers(ctx, conn, mt, opt.Now); err != nil {
		return res, err
	} else if len(reasons) > 0 {
		return res, &ArchiveBlocked{Month: mt.label, Reasons: reasons}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	if err := dirFree(dir, mt.label); err != nil {
		return res, err
	}
	version, err := schemaVersion(ctx, conn)
	if err != nil {
		return res, err
	}

	m, err := writeArchive(ctx, conn, mt, dir, version, opt.By, opt.Now, say)
	if err != nil {
		return res, err
	}
	res.Manifest, res.ManifestPath = m, filepath.Join(dir, manifestName)
	if opt.afterWrite != nil {
		if err := opt.afterWrite(&m); err != nil {
			return res, err
		}
	}
	if err := verifyArchive(ctx, conn, mt, dir, m, say); err != nil {
		return res, err
	}
	if opt.DryRun {
		say("dry run: %s verified, nothing detached", mt.label)
		return res, nil
	}
	if err := detach(ctx, conn, mt, m, dir, opt, say); err != nil {
		return res, err
	}
	res.Detached, res.Dropped = true, !opt.KeepTables
	return res, nil
}

// session is a connection of the archive's own, closed when it is done:
// it carries session settings (the text form of times in fingerprints),
// temporary tables and a session lock that must not go back to the pool.
func (s *ArchiveStore) session(ctx context.Context) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	// Fingerprints hash each row's text; these make it the same in any
	// session that sets them (docs/scaling.md's restore does).
	if _, err := conn.Exec(ctx, `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1`); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// blockers says what keeps a month from being archived now, each with
// its count; none means it may be.
func blockers(ctx context.Context, conn *pgx.Conn, mt monthTables, now time.Time) ([]string, error) {
	var at time.Time
	var by, file string
	err := conn.QueryRow(ctx, `SELECT archived_at, archived_by, jobs_file FROM archived_months WHERE month = $1`, mt.month).Scan(&at, &by, &file)
	if err == nil {
		return []string{fmt.Sprintf("it is already archived (%s by %s, %s)", at.UTC().Format("2006-01-02 15:04 UTC"), by, file)}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	current := tablesOf(now).month
	switch {
	case mt.month.Equal(current):
		return []string{"it is the current month: only months that have ended can be archived"}, nil
	case mt.month.After(current):
		return []string{"it has not begun: only months that have ended can be archived"}, nil
	}
	var missing []string
	for _, p := range []struct{ parent, table string }{{"jobs", mt.jobs}, {"job_charges", mt.charges}} {
		var attached bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass AND c.relname = $2 AND c.relnamespace = 'public'::regnamespace)`, p.parent, p.table).Scan(&attached); err != nil {
			return nil, err
		}
		if !attached {
			missing = append(missing, fmt.Sprintf("%s is not a partition of %s", p.table, p.parent))
		}
	}
	if len(missing) > 0 {
		return []string{"its partitions do not exist (" + strings.Join(missing, ", ") + "): no job submitted in it was ever stored"}, nil
	}

	var out []string
	jobs, charges := pgx.Identifier{mt.jobs}.Sanitize(), pgx.Identifier{mt.charges}.Sanitize()
	var open, noEnd, endLater, inState int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE end_time IS NULL OR end_time > now() OR state = ANY($1)),
			count(*) FILTER (WHERE end_time IS NULL), count(*) FILTER (WHERE end_time > now()), count(*) FILTER (WHERE state = ANY($1))
		FROM `+jobs, jobStatesNotEnded).Scan(&open, &noEnd, &endLater, &inState); err != nil {
		return nil, err
	}
	if open > 0 {
		out = append(out, fmt.Sprintf("%s not ended (%d with no end time, %d ending later, %d %s)",
			ofIts(open, "has", "have"), noEnd, endLater, inState, strings.Join(jobStatesNotEnded, ", ")))
	}
	var queued int64
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT q.job_row) FROM jobs_unrated q WHERE q.job_row IN (SELECT id FROM `+jobs+`)`).Scan(&queued); err != nil {
		return nil, err
	}
	if queued > 0 {
		out = append(out, fmt.Sprintf("%s still queued for rating (run tally rate)", ofIts(queued, "is", "are")))
	}
	var noPeriod, notClosed int64
	var names string
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE c.period_id IS NULL), count(*) FILTER (WHERE p.status <> 'closed'),
			coalesce(string_agg(DISTINCT p.name || ' ' || p.status, ', ') FILTER (WHERE p.status <> 'closed'), '')
		FROM `+charges+` c LEFT JOIN billing_periods p ON p.id = c.period_id`).Scan(&noPeriod, &notClosed, &names); err != nil {
		return nil, err
	}
	if noPeriod > 0 {
		out = append(out, fmt.Sprintf("%s in no billing period", chargesOf(noPeriod)))
	}
	if notClosed > 0 {
		out = append(out, fmt.Sprintf("%s in billing periods not closed yet (%s)", chargesOf(notClosed), names))
	}
	// Budget forecasts read the charges of the last ForecastWindow from
	// the charges themselves: those must stay until they are older.
	var recent int64
	var last *time.Time
	if err := conn.QueryRow(ctx, `SELECT count(*), max(portion_end) FROM `+charges+` WHERE portion_end > $1 AND not_charged = ''`,
		now.Add(-billing.ForecastWindow)).Scan(&recent, &last); err != nil {
		return nil, err
	}
	if recent > 0 {
		noun := "charges"
		if recent == 1 {
			noun = "charge"
		}
		out = append(out, fmt.Sprintf("%d %s of its jobs ended in the last %d days, which budget forecasts still read (it can go from %s)",
			recent, noun, int(billing.ForecastWindow.Hours()/24), last.Add(billing.ForecastWindow).UTC().Format("2006-01-02 15:04 UTC")))
	}
	// A job with no charge that ended in a period still open may yet be
	// charged (a card fixed, then tally rate): its rows must stay.
	var uncharged int64
	names = ""
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(DISTINCT p.name, ', '), '') FROM `+jobs+` j
		JOIN billing_periods p ON j.end_time >= p.starts_at AND j.end_time < p.ends_at
		WHERE p.status <> 'closed' AND NOT EXISTS (SELECT 1 FROM `+charges+` c WHERE c.job_row = j.id AND c.job_submit = j.submit_time)`).Scan(&uncharged, &names); err != nil {
		return nil, err
	}
	if uncharged > 0 {
		out = append(out, fmt.Sprintf("%s no charge and ended in billing periods not closed yet (%s)", ofIts(uncharged, "has", "have"), names))
	}
	return out, nil
}

// ofIts says "1 of its jobs has" or "3 of its jobs have".
func ofIts(n int64, one, many string) string {
	if n == 1 {
		return "1 of its jobs " + one
	}
	return fmt.Sprintf("%d of its jobs %s", n, many)
}

// chargesOf says "1 charge of its jobs is" or "3 charges of its jobs are".
func chargesOf(n int64) string {
	if n == 1 {
		return "1 charge of its jobs is"
	}
	return fmt.Sprintf("%d charges of its jobs are", n)
}

// schemaVersion is the newest migration applied (goose's table).
func schemaVersion(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// detach is the one transaction that takes the month out: with writes to
// its partitions locked out, it checks again that nothing blocks it and
// that the partitions are still what the files hold, keeps the month's
// contribution to the figures (migration 00021), records the month and
// detaches (and drops) the partitions, charges first (their foreign key
// points at the jobs).
func detach(ctx context.Context, conn *pgx.Conn, mt monthTables, m ArchiveManifest, dir string, opt ArchiveOptions, say func(string, ...any)) error {
	// Rating and closes hold this while they write charges; waiting for it
	// keeps a rating's reads from meeting the detach halfway.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(rateLock)); err != nil {
		return fmt.Errorf("waiting for rating: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(rateLock))
	say("detaching %s and %s", mt.charges, mt.jobs)
	jobs, charges := pgx.Identifier{mt.jobs}.Sanitize(), pgx.Identifier{mt.charges}.Sanitize()
	wait := detachLockWait
	if opt.lockWait > 0 {
		wait = opt.lockWait
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No usage refresh between the snapshot below and the commit.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(usageLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+jobs+`, `+charges+` IN SHARE MODE`); err != nil {
			return err
		}
		if reasons, err := blockers(ctx, conn, mt, opt.Now); err != nil {
			return err
		} else if len(reasons) > 0 {
			return &ArchiveBlocked{Month: mt.label, Reasons: reasons}
		}
		for _, t := range m.Tables {
			rows, sum, err := fingerprint(ctx, conn, t.Table, t.OrderBy)
			if err != nil {
				return err
			}
			if rows != t.Rows || sum != t.MD5 {
				return fmt.Errorf("%s changed after it was written (%d rows, md5 %s; the archive has %d rows, md5 %s): nothing detached, run the archive again",
					t.Table, rows, sum, t.Rows, t.MD5)
			}
		}
		jt, ct := m.table(mt.jobs), m.table(mt.charges)
		if _, err := tx.Exec(ctx, `INSERT INTO archived_months (month, jobs, charges, jobs_file, jobs_sha256, charges_file, charges_sha256, fingerprint, archived_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, mt.month, jt.Rows, ct.Rows, filepath.Join(dir, jt.File), jt.SHA256,
			filepath.Join(dir, ct.File), ct.SHA256, m.Fingerprint, opt.By); err != nil {
			return fmt.Errorf("recording the month: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO usage_daily_archived (month, day, cluster, username, account, partition, qos, state, jobs,
				core_seconds, gpu_seconds, cpu_time_us, total_micros, idle_micros, currency)
			SELECT $1::date, u.* FROM (`+usageRows(jobs, charges, "j.end_time IS NOT NULL")+`) u`, mt.month); err != nil {
			return fmt.Errorf("keeping the month's daily usage: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO archived_charge_usage (month, period_id, account, username, cluster, partition, qos, jobs,
				core_seconds, gpu_seconds, total_micros, alloc_cpu_seconds, alloc_gpu_seconds, alloc_billing_seconds)
			SELECT $1::date, c.period_id, c.account, c.username, c.cluster, j.partition, j.qos, count(DISTINCT c.job_row),
				sum(j.req_cpu * j.elapsed_seconds), sum(j.req_gpu * j.elapsed_seconds), sum(c.total_micros),
				sum(j.alloc_cpu * `+useSeconds+`), sum(j.alloc_gpu * `+useSeconds+`), sum(j.alloc_billing * `+useSeconds+`)
			FROM `+charges+` c JOIN `+jobs+` j ON j.id = c.job_row AND j.submit_time = c.job_submit
			WHERE c.period_id IS NOT NULL AND c.not_charged = ''
			GROUP BY 2, 3, 4, 5, 6, 7`, mt.month); err != nil {
			return fmt.Errorf("keeping the month's charged usage: %w", err)
		}
		// Detaching locks jobs and job_charges whole (ACCESS EXCLUSIVE):
		// every page's read queues behind it, so it must not wait long
		// behind a long export or a rating.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = `+fmt.Sprintf("'%dms'", wait.Milliseconds())); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE job_charges DETACH PARTITION `+charges); err != nil {
			return err
		}
		// The detached charges keep their foreign key to jobs, which would
		// refuse to let the month's jobs go.
		rows, _ := tx.Query(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f' AND conparentid = 0`, mt.charges)
		fks, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, fk := range fks {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+charges+` DROP CONSTRAINT `+pgx.Identifier{fk}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE jobs DETACH PARTITION `+jobs); err != nil {
			return err
		}
		if !opt.KeepTables {
			if _, err := tx.Exec(ctx, `DROP TABLE `+charges+`, `+jobs); err != nil {
				return err
			}
		}
		return nil
	})
	return lockBusy(err, wait)
}

// detachLockWait is how long the detach waits for jobs and job_charges.
const detachLockWait = 10 * time.Second

// lockBusy says what a lock timeout of the detach means (other errors
// pass as they are).
func lockBusy(err error, wait time.Duration) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" {
		return fmt.Errorf("jobs and job_charges were busy for %s (a long query or write holds them): nothing detached; the files are written and verified, run the archive again", wait)
	}
	return err
}

// ArchivedMonth is one row of tally archive list: a month archived, or
// one whose partitions are attached.
type ArchivedMonth struct {
	Month    time.Time
	Archived bool
	Jobs     int64
	Charges  int64
	// Archived months: when, by whom, where.
	ArchivedAt  time.Time
	ArchivedBy  string
	JobsFile    string
	ChargesFile string
	// Attached months: what keeps each from being archived now (none: it
	// may be).
	Blockers []string
}

// Months lists the archived months and the attached ones, oldest first,
// with their row counts (attached: counted now).
func (s *ArchiveStore) Months(ctx context.Context, now time.Time) (_ []ArchivedMonth, err error) {
	defer annotate(&err, "listing archived months")
	if now.IsZero() {
		now = time.Now()
	}
	conn, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, `SELECT month::timestamp, jobs, charges, archived_at, archived_by, jobs_file, charges_file FROM archived_months`)
	archived, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ArchivedMonth, error) {
		a := ArchivedMonth{Archived: true}
		err := r.Scan(&a.Month, &a.Jobs, &a.Charges, &a.ArchivedAt, &a.ArchivedBy, &a.JobsFile, &a.ChargesFile)
		a.Month = a.Month.UTC()
		return a, err
	})
	if err != nil {
		return nil, err
	}
	rows, _ = conn.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'jobs'::regclass AND c.relname ~ '^jobs_[0-9]{4}_[0-9]{2}$'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := archived
	for _, name := range names {
		m, err := time.Parse("2006_01", strings.TrimPrefix(name, "jobs_"))
		if err != nil {
			continue
		}
		mt := tablesOf(m)
		a := ArchivedMonth{Month: mt.month}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{mt.jobs}.Sanitize()).Scan(&a.Jobs); err != nil {
			return nil, err
		}
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+mt.charges).Scan(&ok); err != nil {
			return nil, err
		}
		if ok {
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{mt.charges}.Sanitize()).Scan(&a.Charges); err != nil {
				return nil, err
			}
		}
		if a.Blockers, err = blockers(ctx, conn, mt, now); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sortMonths(out)
	return out, nil
}

func sortMonths(ms []ArchivedMonth) {
	slices.SortFunc(ms, func(a, b ArchivedMonth) int { return a.Month.Compare(b.Month) })
}
