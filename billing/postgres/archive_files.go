package postgres

import (
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// manifestName is the file that describes a month's archive in its
// directory (one month to a directory).
const manifestName = "manifest.json"

// ArchiveFormat names the layout of an archive directory.
const ArchiveFormat = "tally-archive/1"

// ArchiveManifest describes an archived month: its files, their
// checksums, their rows and the fingerprint they were verified against.
type ArchiveManifest struct {
	Format        string         `json:"format"`
	Month         string         `json:"month"` // 2026-10: jobs submitted in it (UTC) and their charges
	SchemaVersion int64          `json:"schema_version"`
	WrittenAt     time.Time      `json:"written_at"`
	WrittenBy     string         `json:"written_by"`
	Fingerprint   string         `json:"fingerprint"`
	Tables        []ArchiveTable `json:"tables"`
}

// ArchiveTable is one partition's file: COPY text format, gzipped, rows in
// key order.
type ArchiveTable struct {
	Table   string   `json:"table"`  // jobs_2026_10
	Parent  string   `json:"parent"` // jobs
	File    string   `json:"file"`   // jobs_2026_10.copy.gz, in the manifest's directory
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"` // of the file as written
	Rows    int64    `json:"rows"`
	MD5     string   `json:"md5"` // md5(coalesce(string_agg(t::text, E'\n' ORDER BY order_by), ''))
	OrderBy []string `json:"order_by"`
	Columns []string `json:"columns"` // "name type", in the table's order (the file's)
}

func (m ArchiveManifest) table(name string) ArchiveTable {
	for _, t := range m.Tables {
		if t.Table == name {
			return t
		}
	}
	return ArchiveTable{}
}

// fingerprintOf is the manifest's (and archived_months') fingerprint of
// its tables: each one's name, rows and md5.
func fingerprintOf(ts []ArchiveTable) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s:%d:%s", t.Table, t.Rows, t.MD5)
	}
	return strings.Join(parts, " ")
}

// dirFree refuses a directory holding another month's archive: one
// manifest to a directory, so none is overwritten. The same month's
// (a dry run, a run that stopped) is replaced.
func dirFree(dir, month string) error {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var m ArchiveManifest
	if err := json.Unmarshal(b, &m); err != nil || m.Month == "" {
		return fmt.Errorf("%s holds a %s that is not an archive's: choose another directory", dir, manifestName)
	}
	if m.Month != month {
		return fmt.Errorf("%s holds the archive of %s: give each month a directory of its own", dir, m.Month)
	}
	return nil
}

// writeArchive writes both partitions and the manifest from one snapshot,
// each file under a temporary name, synced, then renamed into place; the
// manifest last.
func writeArchive(ctx context.Context, conn *pgx.Conn, mt monthTables, dir string, version int64, by string, now time.Time, say func(string, ...any)) (ArchiveManifest, error) {
	m := ArchiveManifest{Format: ArchiveFormat, Month: mt.label, SchemaVersion: version, WrittenAt: now.UTC().Truncate(time.Second), WrittenBy: by}
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, p := range []struct {
			parent, table string
			key           []string
		}{{"jobs", mt.jobs, jobsKey}, {"job_charges", mt.charges, chargesKey}} {
			t := ArchiveTable{Table: p.table, Parent: p.parent, File: p.table + ".copy.gz", OrderBy: p.key}
			rows, _ := conn.Query(ctx, `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
				WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, p.table)
			cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("columns of %s: %w", p.table, err)
			}
			t.Columns = cols
			say("writing %s", filepath.Join(dir, t.File))
			if err := copyToFile(ctx, conn, &t, dir); err != nil {
				return fmt.Errorf("writing %s: %w", t.File, err)
			}
			n, sum, err := fingerprint(ctx, conn, p.table, p.key)
			if err != nil {
				return err
			}
			if n != t.Rows {
				return fmt.Errorf("%s: COPY wrote %d rows but the table holds %d", p.table, t.Rows, n)
			}
			t.MD5 = sum
			say("wrote %s: %d rows, %d bytes, sha256 %s", t.File, t.Rows, t.Bytes, t.SHA256)
			m.Tables = append(m.Tables, t)
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	m.Fingerprint = fingerprintOf(m.Tables)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := writeFileSynced(dir, manifestName, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return m, fmt.Errorf("writing %s: %w", manifestName, err)
	}
	return m, nil
}

// copyToFile streams the table, in key order, through gzip into its file,
// hashing the file's bytes as they are written.
func copyToFile(ctx context.Context, conn *pgx.Conn, t *ArchiveTable, dir string) error {
	return writeFileSynced(dir, t.File, func(w io.Writer) error {
		h := sha256.New()
		n := &byteCounter{}
		gz := gzip.NewWriter(io.MultiWriter(w, h, n))
		tag, err := conn.PgConn().CopyTo(ctx, gz, `COPY (SELECT * FROM `+pgx.Identifier{t.Table}.Sanitize()+` ORDER BY `+strings.Join(t.OrderBy, ", ")+`) TO STDOUT`)
		if err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return err
		}
		t.Rows, t.Bytes, t.SHA256 = tag.RowsAffected(), n.n, hex.EncodeToString(h.Sum(nil))
		return nil
	})
}

type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// writeFileSynced writes dir/name through a temporary file that is synced
// and renamed into place, then syncs the directory: the name holds either
// the whole file or what it held before.
func writeFileSynced(dir, name string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fingerprint is a table's row count and the md5 of its rows' text in key
// order, one row to a line: what md5(string_agg(t::text, E'\n' ORDER BY
// key)) gives in SQL, computed as the rows stream by, so a month larger
// than one text value (1 GB) can be hashed too. No rows hash as the empty text.
func fingerprint(ctx context.Context, conn *pgx.Conn, table string, key []string) (int64, string, error) {
	rows, err := conn.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t ORDER BY `+strings.Join(key, ", "))
	if err != nil {
		return 0, "", fmt.Errorf("fingerprint of %s: %w", table, err)
	}
	defer rows.Close()
	h := md5.New()
	var n int64
	for rows.Next() {
		if n > 0 {
			h.Write([]byte{'\n'})
		}
		h.Write(rows.RawValues()[0])
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("fingerprint of %s: %w", table, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// verifyArchive reads the manifest and each file back from disk, checks
// the file's SHA-256, loads it into a temporary table like its partition
// and compares the two fingerprints. Any difference is an error.
func verifyArchive(ctx context.Context, conn *pgx.Conn, mt monthTables, dir string, m ArchiveManifest, say func(string, ...any)) error {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return fmt.Errorf("reading %s back: %w", manifestName, err)
	}
	var onDisk ArchiveManifest
	if err := json.Unmarshal(b, &onDisk); err != nil {
		return fmt.Errorf("%s as written does not read back: %w", manifestName, err)
	}
	if onDisk.Month != mt.label || onDisk.Fingerprint != fingerprintOf(m.Tables) || len(onDisk.Tables) != len(m.Tables) {
		return fmt.Errorf("%s on disk does not match the archive written (month %s, fingerprint %s)", manifestName, onDisk.Month, onDisk.Fingerprint)
	}
	for i, t := range m.Tables {
		if onDisk.Tables[i].SHA256 != t.SHA256 {
			return fmt.Errorf("%s on disk gives %s the SHA-256 %s, the archive wrote %s", manifestName, t.File, onDisk.Tables[i].SHA256, t.SHA256)
		}
		path := filepath.Join(dir, t.File)
		say("verifying %s", path)
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		if sum != t.SHA256 {
			return fmt.Errorf("%s: its SHA-256 is %s but %s was written: the file changed after it was written; nothing detached", path, sum, t.SHA256)
		}
		temp := "tally_archive_check_" + t.Table
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS pg_temp.`+pgx.Identifier{temp}.Sanitize()+`;
			CREATE TEMP TABLE `+pgx.Identifier{temp}.Sanitize()+` (LIKE `+pgx.Identifier{t.Table}.Sanitize()+`)`); err != nil {
			return err
		}
		if err := loadFile(ctx, conn, path, temp); err != nil {
			return fmt.Errorf("%s does not load back: %w; nothing detached", path, err)
		}
		rows, md, err := fingerprint(ctx, conn, temp, t.OrderBy)
		if err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `DROP TABLE pg_temp.`+pgx.Identifier{temp}.Sanitize()); err != nil {
			return err
		}
		if rows != t.Rows || md != t.MD5 {
			return fmt.Errorf("%s holds %d rows with md5 %s but %s had %d rows with md5 %s: nothing detached", path, rows, md, t.Table, t.Rows, t.MD5)
		}
		say("verified %s: %d rows, md5 %s", t.File, rows, md)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadFile COPYs a gzipped COPY text file into table.
func loadFile(ctx context.Context, conn *pgx.Conn, path, table string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	// gzip checks its CRC at the end of the data, inside the COPY: a bad
	// one fails the COPY.
	_, err = conn.PgConn().CopyFrom(ctx, gz, `COPY `+pgx.Identifier{table}.Sanitize()+` FROM STDIN`)
	return err
}
