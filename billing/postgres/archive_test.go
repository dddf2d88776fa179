package postgres

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// ingest stores records the way ingest does and returns its error.
func ingest(ctx context.Context, pool *pgxpool.Pool, jobs ...slurm.Job) error {
	w, err := jobstore.New(pool).Begin(ctx, "sacct")
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := w.Add(ctx, j); err != nil {
			w.Abort()
			return err
		}
	}
	_, err = w.Commit(ctx, jobstore.Run{WindowStart: time.Unix(0, 0), WindowEnd: time.Unix(1, 0), Source: "sacct", Trigger: "test", Started: time.Now()})
	return err
}

// archiveJobs are 300 jobs: 240 submitted in October 2026 (some ending
// in November, some not charged, GPU jobs among them), 30 in September
// (some ending in October) and 30 in November.
func archiveJobs() []slurm.Job {
	users := []string{"alice", "bob", "carol", "dave"}
	accounts := []string{"physics", "chem", "bio"}
	partitions := []string{"cpu", "gpu", "short"}
	var out []slurm.Job
	add := func(id int64, submit time.Time, i int) {
		end := submit.Add(time.Duration(i%7+1) * 5 * time.Hour)
		j := mk(id, users[i%4], accounts[i%3], partitions[i%3], "normal", int64(i%8+1), int64(i%4+1)*1024,
			submit.Format(time.RFC3339), end.Format(time.RFC3339))
		if i%5 == 0 {
			j.QOS = "standby"
		}
		if j.Partition == "gpu" {
			j.Requested.GPU, j.Allocated.GPU = int64(i%2+1), int64(i%2+1)
		}
		if i%17 == 0 {
			j.State = "NODE_FAIL" // not charged
		}
		j.CPUTimeMicros = j.ElapsedSeconds * 1_000_000 * int64(i%3+1) / 2
		out = append(out, j)
	}
	for i := range 240 {
		add(int64(10_000+i), at("2026-10-01T00:00:00Z").Add(time.Duration(i)*3*time.Hour), i)
	}
	for i := range 30 {
		add(int64(9_000+i), at("2026-09-20T00:00:00Z").Add(time.Duration(i)*9*time.Hour), i)
		add(int64(11_000+i), at("2026-11-05T00:00:00Z").Add(time.Duration(i)*9*time.Hour), i)
	}
	return out
}

// archivable stores archiveJobs, rates them, closes September, October
// and November, and sets a core-hour budget on physics: October can be
// archived.
func archivable(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	addJobs(t, pool, archiveJobs()...)
	if err := s.EnsureMonths(ctx, at("2026-09-01T00:00:00Z"), at("2026-12-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"2026-09", "2026-10", "2026-11"} {
		if _, err := s.ClosePeriod(ctx, p, "test", billing.HalfUp); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []billing.BudgetUnit{billing.UnitCoreHours, billing.UnitGPUHours, billing.UnitMoney} {
		if _, _, err := s.SetBudget(ctx, billing.Budget{Account: "physics", Unit: u, Amount: 1_000_000_000, Starts: at("2026-09-01T00:00:00Z"),
			Ends: at("2026-12-01T00:00:00Z"), UpdatedBy: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return s, pool
}

// archiveFigures reads every figure of the closed periods and the usage
// rollup that archiving must leave as it was, keyed by where it was read.
func archiveFigures(t *testing.T, s *Store, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{"usage rollup": rollup(t, pool)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"2026-09", "2026-10", "2026-11"} {
		for _, accounts := range [][]string{nil, {"physics"}} {
			ps, err := s.Statements(ctx, p, accounts, billing.HalfUp)
			must(err)
			out[fmt.Sprintf("statements %s %v", p, accounts)] = fmt.Sprintf("%+v", ps)
			for _, by := range []string{"user", "partition", "qos", "cluster"} {
				rows, err := s.Breakdown(ctx, p, by, accounts, billing.HalfUp)
				must(err)
				out[fmt.Sprintf("breakdown %s by %s %v", p, by, accounts)] = fmt.Sprintf("%+v", rows)
			}
			var csv bytes.Buffer
			must(s.WriteAccountSummary(ctx, &csv, p, accounts, billing.HalfUp))
			out[fmt.Sprintf("accounts.csv %s %v", p, accounts)] = csv.String()
		}
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			us, err := s.UserStatement(ctx, p, u, nil, billing.HalfUp)
			must(err)
			out["user statement "+p+" "+u] = fmt.Sprintf("%+v", us)
		}
		pp, err := s.Period(ctx, p)
		must(err)
		ps, people, err := s.AccountOverview(ctx, pp, "physics", "", billing.HalfUp)
		must(err)
		out["account overview "+p] = fmt.Sprintf("%+v %+v", ps, people)
	}
	sums, err := s.PeriodSummaries(ctx, nil, billing.HalfUp)
	must(err)
	out["period summaries"] = fmt.Sprintf("%+v", sums)
	sums, err = s.UserPeriodSummaries(ctx, "alice", billing.HalfUp)
	must(err)
	out["alice's period summaries"] = fmt.Sprintf("%+v", sums)
	budgets, err := s.Budgets(ctx, nil)
	must(err)
	bals, err := s.Balances(ctx, budgets, nil, at("2026-12-07T00:00:00Z"), billing.HalfUp)
	must(err)
	out["budget balances"] = fmt.Sprintf("%+v", bals)
	for _, sc := range []Scope{{All: true}, {User: "alice"}, {User: "carol", Accounts: []string{"chem"}}} {
		f := JobFilter{From: at("2026-09-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")}
		sum, err := s.Summarize(ctx, sc, f)
		must(err)
		days, err := s.DailyCosts(ctx, sc, f)
		must(err)
		parts, err := s.TotalsBy(ctx, sc, "partition", f)
		must(err)
		out[fmt.Sprintf("usage %+v", sc)] = fmt.Sprintf("%+v %+v %+v", sum, days, parts)
	}
	return out
}

func sameFigures(t *testing.T, step string, want, got map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: %s changed:\nbefore %s\nafter  %s", step, k, want[k], got[k])
		}
	}
}

// tableFingerprint is the fingerprint in SQL, as docs/scaling.md's
// restore computes it by hand.
func tableFingerprint(t *testing.T, pool *pgxpool.Pool, table, key string) (int64, string) {
	t.Helper()
	var n int64
	var sum string
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'`); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), `SELECT count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY `+key+`), '')) FROM `+table+` t`).Scan(&n, &sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func attached(t *testing.T, pool *pgxpool.Pool, table string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = $1)`, table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func exists(t *testing.T, pool *pgxpool.Pool, table string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// copyIn loads a gzipped COPY file into table (psql's \copy ... FROM
// PROGRAM 'gzip -dc FILE' does the same).
func copyIn(t *testing.T, pool *pgxpool.Pool, tx pgx.Tx, path, table string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Conn().PgConn().CopyFrom(context.Background(), gz, `COPY `+table+` FROM STDIN`); err != nil {
		t.Fatal(err)
	}
}

// A closed month archived: the files hold exactly its rows, it is gone
// from the database, no figure of a closed period or of usage changes
// (also after a full usage rebuild), ingest refuses the month, and
// docs/scaling.md's restore brings it back as it was.
func TestArchiveClosedMonth(t *testing.T) {
	began := time.Now()
	s, pool := archivable(t)
	ctx := context.Background()
	before := archiveFigures(t, s, pool)
	liveJobs, jobsMD5 := tableFingerprint(t, pool, "jobs_2026_10", "id, submit_time")
	liveCharges, chargesMD5 := tableFingerprint(t, pool, "job_charges_2026_10", "job_row, job_submit, portion_start")
	if liveJobs != 240 || liveCharges == 0 {
		t.Fatalf("fixture: %d jobs and %d charges in October", liveJobs, liveCharges)
	}
	// October's jobs ended in October and November: both periods hold
	// charges that will be archived.
	if n := count(t, pool, `SELECT count(DISTINCT period_id) FROM job_charges_2026_10`); n != 2 {
		t.Fatalf("October's charges are in %d periods, want 2", n)
	}

	dir := filepath.Join(t.TempDir(), "2026-10")
	var progress []string
	res, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-10-15T00:00:00Z"), Dir: dir, By: "test",
		Progress: func(f string, a ...any) { progress = append(progress, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Detached || !res.Dropped {
		t.Fatalf("result %+v", res)
	}
	if len(progress) < 6 {
		t.Errorf("progress: %q", progress)
	}

	// The files and the manifest.
	m := res.Manifest
	if m.Month != "2026-10" || m.Format != ArchiveFormat || m.SchemaVersion < 21 || len(m.Tables) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || !bytes.Contains(onDisk, []byte(`"fingerprint": "`+m.Fingerprint+`"`)) {
		t.Fatalf("manifest.json: %v\n%s", err, onDisk)
	}
	want := map[string][2]any{"jobs_2026_10": {liveJobs, jobsMD5}, "job_charges_2026_10": {liveCharges, chargesMD5}}
	for _, tb := range m.Tables {
		if got := sha256File(t, filepath.Join(dir, tb.File)); got != tb.SHA256 {
			t.Errorf("%s: sha256 %s, manifest %s", tb.File, got, tb.SHA256)
		}
		if w := want[tb.Table]; tb.Rows != w[0] || tb.MD5 != w[1] {
			t.Errorf("%s: manifest %d rows md5 %s, the table had %d rows md5 %s (as SQL computes it)", tb.Table, tb.Rows, tb.MD5, w[0], w[1])
		}
		if len(tb.Columns) < 5 || !strings.HasPrefix(tb.Columns[0], "id ") && !strings.HasPrefix(tb.Columns[0], "job_row ") {
			t.Errorf("%s: columns %q", tb.Table, tb.Columns)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in the directory (temporary files left?): %v", len(entries), entries)
	}

	// Gone from the database, recorded in archived_months.
	for _, tb := range []string{"jobs_2026_10", "job_charges_2026_10"} {
		if exists(t, pool, tb) {
			t.Errorf("%s still exists", tb)
		}
	}
	var jobs, charges int64
	var jobsFile, jobsSHA, chargesSHA, fp, by string
	if err := pool.QueryRow(ctx, `SELECT jobs, charges, jobs_file, jobs_sha256, charges_sha256, fingerprint, archived_by FROM archived_months WHERE month = '2026-10-01'`).
		Scan(&jobs, &charges, &jobsFile, &jobsSHA, &chargesSHA, &fp, &by); err != nil {
		t.Fatal(err)
	}
	if jobs != liveJobs || charges != liveCharges || jobsFile != filepath.Join(dir, "jobs_2026_10.copy.gz") || jobsSHA != m.table("jobs_2026_10").SHA256 ||
		chargesSHA != m.table("job_charges_2026_10").SHA256 || fp != m.Fingerprint || by != "test" {
		t.Errorf("archived_months: %d %d %s %s %s %s %s", jobs, charges, jobsFile, jobsSHA, chargesSHA, fp, by)
	}

	// A restore of the files into fresh tables gives back the same rows.
	if _, err := pool.Exec(ctx, `CREATE TABLE restored_jobs (LIKE jobs); CREATE TABLE restored_charges (LIKE job_charges)`); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		copyIn(t, pool, tx, filepath.Join(dir, "jobs_2026_10.copy.gz"), "restored_jobs")
		copyIn(t, pool, tx, filepath.Join(dir, "job_charges_2026_10.copy.gz"), "restored_charges")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, sum := tableFingerprint(t, pool, "restored_jobs", "id, submit_time"); n != liveJobs || sum != jobsMD5 {
		t.Errorf("restored jobs: %d rows md5 %s, archived %d md5 %s", n, sum, liveJobs, jobsMD5)
	}
	if n, sum := tableFingerprint(t, pool, "restored_charges", "job_row, job_submit, portion_start"); n != liveCharges || sum != chargesMD5 {
		t.Errorf("restored charges: %d rows md5 %s, archived %d md5 %s", n, sum, liveCharges, chargesMD5)
	}
	pool.Exec(ctx, `DROP TABLE restored_jobs, restored_charges`)

	// Not one figure changed, nor after rebuilding all usage.
	sameFigures(t, "after archiving", before, archiveFigures(t, s, pool))
	if err := s.RefreshUsage(ctx, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	sameFigures(t, "after a full usage rebuild", before, archiveFigures(t, s, pool))

	// The job list and its totals agree: both without the archived jobs.
	f := JobFilter{From: at("2026-09-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")}
	var listed int64
	if err := s.EachJob(ctx, Scope{All: true}, f, func(JobRow) error { listed++; return nil }); err != nil {
		t.Fatal(err)
	}
	tot, err := s.Totals(ctx, Scope{All: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	if listed != 60 || tot.Jobs != listed {
		t.Errorf("job list: %d jobs listed, totals say %d, want 60 (the jobs not archived)", listed, tot.Jobs)
	}
	// Job lines need the jobs: refused, with the month named, for both
	// periods that charged October's jobs; September's still exports.
	for _, p := range []string{"2026-10", "2026-11"} {
		var buf bytes.Buffer
		err := s.WriteJobLines(ctx, &buf, p, nil)
		if !isKind(err, billing.KindConflict) || !strings.Contains(err.Error(), "submitted in 2026-10, which is archived") || buf.Len() != 0 {
			t.Errorf("job lines of %s: %v (%d bytes written)", p, err, buf.Len())
		}
	}
	if err := s.WriteJobLines(ctx, &bytes.Buffer{}, "2026-09", nil); err != nil {
		t.Errorf("job lines of 2026-09: %v", err)
	}

	// Ingest refuses October, clearly, and still takes a window spanning it.
	late := mk(99_999, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-20T00:00:00Z", "2026-10-20T01:00:00Z")
	if err := ingest(ctx, pool, late); err == nil || !strings.Contains(err.Error(), "jobs submitted in 2026-10 are archived: restore that month before writing to it") {
		t.Errorf("ingesting a record of October: %v", err)
	}
	if err := ingest(ctx, pool, mk(99_998, "bob", "chem", "cpu", "normal", 1, 1024, "2026-09-29T00:00:00Z", "2026-12-02T01:00:00Z"),
		mk(99_997, "bob", "chem", "cpu", "normal", 1, 1024, "2026-12-01T00:00:00Z", "2026-12-02T01:00:00Z")); err != nil {
		t.Errorf("a window with September's and December's records: %v", err)
	}
	pool.Exec(ctx, `DELETE FROM jobs WHERE job_id IN (99998, 99997)`)

	// Once is enough.
	_, err = s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: t.TempDir(), By: "test"})
	var blocked *ArchiveBlocked
	if !errors.As(err, &blocked) || !strings.Contains(err.Error(), "already archived") {
		t.Errorf("archiving October again: %v", err)
	}

	// tally archive list: October archived, the others attached.
	months, err := s.Months(ctx, at("2026-12-07T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var listing []string
	for _, am := range months {
		listing = append(listing, fmt.Sprintf("%s %v %d %d %d", am.Month.Format("2006-01"), am.Archived, am.Jobs, am.Charges, len(am.Blockers)))
	}
	if got := strings.Join(listing, "; "); !strings.HasPrefix(got, fmt.Sprintf("2026-09 false 30 %d 0; 2026-10 true 240 %d 0; 2026-11 false 30 ", count(t, pool, `SELECT count(*) FROM job_charges_2026_09`), liveCharges)) {
		t.Errorf("months: %s", got)
	}

	// docs/scaling.md's restore, step by step, brings October back.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE jobs_2026_10 (LIKE jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
			CREATE TABLE job_charges_2026_10 (LIKE job_charges INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
			return err
		}
		copyIn(t, pool, tx, filepath.Join(dir, "jobs_2026_10.copy.gz"), "jobs_2026_10")
		copyIn(t, pool, tx, filepath.Join(dir, "job_charges_2026_10.copy.gz"), "job_charges_2026_10")
		_, err := tx.Exec(ctx, `ALTER TABLE jobs ATTACH PARTITION jobs_2026_10 FOR VALUES FROM ('2026-10-01 00:00+00') TO ('2026-11-01 00:00+00');
			ALTER TABLE job_charges ATTACH PARTITION job_charges_2026_10 FOR VALUES FROM ('2026-10-01 00:00+00') TO ('2026-11-01 00:00+00');
			DELETE FROM archived_months WHERE month = '2026-10-01'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM usage_daily_archived`) + count(t, pool, `SELECT count(*) FROM archived_charge_usage`); n != 0 {
		t.Errorf("%d rows kept for October after its restore", n)
	}
	if n, sum := tableFingerprint(t, pool, "jobs_2026_10", "id, submit_time"); n != liveJobs || sum != jobsMD5 {
		t.Errorf("restored October: %d jobs md5 %s", n, sum)
	}
	if err := s.RefreshUsage(ctx, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	sameFigures(t, "after the restore", before, archiveFigures(t, s, pool))
	if err := ingest(ctx, pool, late); err != nil {
		t.Errorf("ingest into the restored October: %v", err)
	}
	t.Logf("archived and restored 240 jobs in %s", time.Since(began).Round(time.Millisecond))
}

// A dry run writes and verifies the archive and detaches nothing;
// --keep-tables detaches and leaves the tables, and ingest still refuses
// the month with its message.
func TestArchiveDryRunAndKeepTables(t *testing.T) {
	s, pool := archivable(t)
	ctx := context.Background()
	dir := t.TempDir()
	res, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: dir, By: "test", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Detached || !attached(t, pool, "jobs_2026_10") || !attached(t, pool, "job_charges_2026_10") ||
		count(t, pool, `SELECT count(*) FROM archived_months`) != 0 || count(t, pool, `SELECT count(*) FROM usage_daily_archived`) != 0 {
		t.Fatalf("a dry run detached: %+v", res)
	}
	if got := sha256File(t, filepath.Join(dir, "jobs_2026_10.copy.gz")); got != res.Manifest.table("jobs_2026_10").SHA256 {
		t.Errorf("dry run's file: sha256 %s, manifest %s", got, res.Manifest.table("jobs_2026_10").SHA256)
	}
	// Another month's archive does not go where October's is.
	if _, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-09-01T00:00:00Z"), Dir: dir, By: "test", DryRun: true}); err == nil ||
		!strings.Contains(err.Error(), "holds the archive of 2026-10") {
		t.Errorf("September into October's directory: %v", err)
	}

	// The same directory again (after the dry run), keeping the tables.
	res, err = s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: dir, By: "test", KeepTables: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Detached || res.Dropped || attached(t, pool, "jobs_2026_10") || attached(t, pool, "job_charges_2026_10") ||
		!exists(t, pool, "jobs_2026_10") || !exists(t, pool, "job_charges_2026_10") {
		t.Fatalf("--keep-tables: %+v", res)
	}
	if n := count(t, pool, `SELECT count(*) FROM jobs_2026_10`); n != 240 {
		t.Errorf("kept table holds %d jobs", n)
	}
	late := mk(99_999, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-20T00:00:00Z", "2026-10-20T01:00:00Z")
	if err := ingest(ctx, pool, late); err == nil || !strings.Contains(err.Error(), "jobs submitted in 2026-10 are archived") {
		t.Errorf("ingest with the detached table kept: %v", err)
	}
}

// A detach that would queue every page behind a long query gives up
// after its wait, with nothing detached, and succeeds once it is free.
func TestArchiveGivesWayToALongQuery(t *testing.T) {
	s, pool := archivable(t)
	ctx := context.Background()
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	// An export reading jobs: its snapshot holds jobs and every partition.
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM jobs`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: dir, By: "test", lockWait: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "were busy for 300ms") || !strings.Contains(err.Error(), "nothing detached") {
		t.Fatalf("archive beside a long query: %v", err)
	}
	if !attached(t, pool, "jobs_2026_10") || count(t, pool, `SELECT count(*) FROM archived_months`) != 0 || count(t, pool, `SELECT count(*) FROM usage_daily_archived`) != 0 {
		t.Fatal("something was detached or recorded")
	}
	reader.Rollback(ctx)
	if _, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: dir, By: "test", lockWait: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

// An archive file that does not hold what was archived aborts the run
// with nothing detached: a flipped byte (its checksum), and a file that
// was replaced whole, checksum and manifest included (its rows).
func TestArchiveCorruptFileDetachesNothing(t *testing.T) {
	s, pool := archivable(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		hook  func(dir string, m *ArchiveManifest) error
		error string
	}{
		{"a flipped byte", func(dir string, m *ArchiveManifest) error {
			path := filepath.Join(dir, m.Tables[1].File)
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x01
			return os.WriteFile(path, b, 0o640)
		}, "its SHA-256 is"},
		{"a job missing, checksums rewritten", func(dir string, m *ArchiveManifest) error {
			tb := &m.Tables[0]
			path := filepath.Join(dir, tb.File)
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			gz, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			var raw bytes.Buffer
			raw.ReadFrom(gz)
			f.Close()
			lines := bytes.SplitAfter(raw.Bytes(), []byte("\n"))
			var out bytes.Buffer
			zw := gzip.NewWriter(&out)
			for _, l := range lines[1:] { // the first job gone
				zw.Write(l)
			}
			zw.Close()
			if err := os.WriteFile(path, out.Bytes(), 0o640); err != nil {
				return err
			}
			sum := sha256.Sum256(out.Bytes())
			tb.SHA256 = hex.EncodeToString(sum[:])
			b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			var old ArchiveManifest
			if err := json.Unmarshal(b, &old); err != nil {
				return err
			}
			old.Tables[0].SHA256 = tb.SHA256
			b, _ = json.Marshal(old)
			return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o640)
		}, "holds 239 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: dir, By: "test",
				afterWrite: func(m *ArchiveManifest) error { return tc.hook(dir, m) }})
			if err == nil || !strings.Contains(err.Error(), tc.error) || !strings.Contains(err.Error(), "nothing detached") {
				t.Fatalf("archive of a damaged file: %v", err)
			}
			if !attached(t, pool, "jobs_2026_10") || !attached(t, pool, "job_charges_2026_10") ||
				count(t, pool, `SELECT count(*) FROM archived_months`) != 0 || count(t, pool, `SELECT count(*) FROM usage_daily_archived`) != 0 ||
				count(t, pool, `SELECT count(*) FROM archived_charge_usage`) != 0 || count(t, pool, `SELECT count(*) FROM jobs_2026_10`) != 240 {
				t.Fatal("something was detached or recorded")
			}
		})
	}
}

// Each reason a month may not be archived is refused before anything is
// written, with a message naming it and its count, and changes nothing.
func TestArchiveRefusals(t *testing.T) {
	ctx := context.Background()
	now := at("2026-12-07T12:00:00Z")
	for _, tc := range []struct {
		name  string
		month string
		close []string // periods to close (default: September, October, November)
		setup func(t *testing.T, s *Store, pool *pgxpool.Pool)
		now   func(t *testing.T, pool *pgxpool.Pool) time.Time // default: 7 December 2026
		want  []string
	}{
		{name: "current month", month: "2026-12-01", want: []string{"2026-12 cannot be archived: it is the current month"}},
		{name: "a month to come", month: "2027-02-01", want: []string{"it has not begun"}},
		{name: "no partitions", month: "2025-06-01", want: []string{"its partitions do not exist (jobs_2025_06 is not a partition of jobs, job_charges_2025_06 is not a partition of job_charges)"}},
		{name: "already archived", month: "2026-10-01", setup: func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			if _, err := s.Archive(ctx, ArchiveOptions{Month: at("2026-10-01T00:00:00Z"), Dir: t.TempDir(), By: "alice", Now: now}); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"it is already archived (", "by alice, "}},
		{name: "jobs not ended", month: "2026-10-01", setup: func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			// A job Slurm says is still running; a record whose end is still to come.
			running := mk(77_001, "alice", "physics", "cpu", "normal", 1, 1024, "2026-10-30T00:00:00Z", "2026-10-30T01:00:00Z")
			running.End, running.State = time.Time{}, "RUNNING"
			future := mk(77_002, "bob", "chem", "cpu", "normal", 1, 1024, "2026-10-30T00:00:00Z", "2027-01-30T01:00:00Z")
			addJobs(t, pool, running, future)
			pool.Exec(ctx, `DELETE FROM jobs_unrated`)
		}, want: []string{"2 of its jobs have not ended (1 with no end time, 1 ending later, 1 RUNNING, PENDING, SUSPENDED)"}},
		{name: "queued for rating", month: "2026-10-01", setup: func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			pool.Exec(ctx, `INSERT INTO jobs_unrated (job_row) SELECT id FROM jobs_2026_10 ORDER BY id LIMIT 3`)
		}, want: []string{"3 of its jobs are still queued for rating (run tally rate)"}},
		{name: "periods not closed", month: "2026-10-01", close: []string{"2026-09", "2026-10"},
			want: []string{"2026-10 cannot be archived: 1 charge of its jobs is in billing periods not closed yet (2026-11 open)"}},
		{name: "charges in no period", month: "2026-11-01", close: []string{"2026-09", "2026-10"}, setup: func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			if _, err := pool.Exec(ctx, `UPDATE job_charges SET period_id = NULL WHERE job_submit >= '2026-11-01' AND period_id IS NOT NULL`); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"charges of its jobs are in no billing period"}},
		{name: "charges budget forecasts still read", month: "2026-10-01", now: func(t *testing.T, pool *pgxpool.Pool) time.Time {
			// A week after October's last charge ended.
			var last time.Time
			if err := pool.QueryRow(ctx, `SELECT max(portion_end) FROM job_charges_2026_10`).Scan(&last); err != nil {
				t.Fatal(err)
			}
			return last.Add(7 * 24 * time.Hour)
		}, want: []string{" of its jobs ended in the last 14 days, which budget forecasts still read (it can go from 2026-11-1"}},
		{name: "uncharged jobs in an open period", month: "2026-11-01", close: []string{"2026-09", "2026-10"}, setup: func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			if _, err := pool.Exec(ctx, `DELETE FROM job_charges WHERE job_submit >= '2026-11-01'`); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"30 of its jobs have no charge and ended in billing periods not closed yet (2026-11)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.New(t)
			s := New(pool)
			importStandard(t, s)
			addJobs(t, pool, archiveJobs()...)
			if err := s.EnsureMonths(ctx, at("2026-09-01T00:00:00Z"), at("2026-12-01T00:00:00Z")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
				t.Fatal(err)
			}
			if tc.close == nil {
				tc.close = []string{"2026-09", "2026-10", "2026-11"}
			}
			for _, p := range tc.close {
				if _, err := s.ClosePeriod(ctx, p, "test", billing.HalfUp); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup != nil {
				tc.setup(t, s, pool)
			}
			state := func() string {
				var st string
				pool.QueryRow(ctx, `SELECT concat_ws(' ', (SELECT count(*) FROM archived_months), (SELECT count(*) FROM usage_daily_archived),
					(SELECT count(*) FROM archived_charge_usage), (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_charges),
					(SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid))`).Scan(&st)
				return st
			}
			was := state()
			dir := filepath.Join(t.TempDir(), "archive")
			when := now
			if tc.now != nil {
				when = tc.now(t, pool)
			}
			_, err := s.Archive(ctx, ArchiveOptions{Month: at(tc.month + "T00:00:00Z"), Dir: dir, By: "test", Now: when})
			var blocked *ArchiveBlocked
			if !errors.As(err, &blocked) {
				t.Fatalf("not refused: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q lacks %q", err, w)
				}
			}
			if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("the refused run made %s", dir)
			}
			if now := state(); now != was {
				t.Errorf("the refused run changed the database: %s, was %s", now, was)
			}
		})
	}
}
