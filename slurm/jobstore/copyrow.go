package jobstore

import (
	"context"
	"encoding/binary"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-hpc/tally/slurm"
)

// Records are written to PostgreSQL in its binary COPY format, encoded here
// for exactly the jobs table's column types. pgx's generic CopyFrom boxes
// each of a row's 41 values and looks up an encoder for each: 3.7 s of Go
// CPU per 10^6 records, on the core the parser needs, against 0.5 s here.
// TestRowEncodingMatchesPgx holds the bytes to what pgx would send.

// rowFields is the number of fields appendRow writes (Columns' length).
const rowFields = 41

// pgEpochMicros is 2000-01-01 UTC, where PostgreSQL's timestamps count from.
const pgEpochMicros = 946684800 * 1_000_000

// appendRow appends j's fields, in Columns' order, as binary COPY fields
// (each a 32-bit length, -1 for NULL, then the value), without the tuple's
// field count.
func appendRow(b []byte, j *slurm.Job, source string) []byte {
	b = appendText(b, j.Cluster)
	b = appendInt8(b, j.JobID)
	b = appendTime(b, j.Submit)
	b = appendInt8(b, j.ArrayJobID)
	b = appendOptInt8(b, j.ArrayTaskID)
	b = appendInt8(b, j.HetJobID)
	b = appendOptInt8(b, j.HetOffset)
	for _, s := range [...]string{j.Name, j.User, j.Account, j.Partition, j.QOS, j.State, j.Reason} {
		b = appendText(b, s)
	}
	if j.ExitCode == nil {
		b = appendNull(b)
	} else {
		b = appendInt4(b, int32(*j.ExitCode))
	}
	b = appendInt4(b, int32(j.ExitSignal))
	b = appendOptTime(b, j.Eligible)
	b = appendOptTime(b, j.Start)
	b = appendOptTime(b, j.End)
	b = appendInt8(b, j.ElapsedSeconds)
	b = appendOptInt8(b, j.TimeLimitMinutes)
	b = appendInt8(b, j.SuspendedSeconds)
	b = appendInt8(b, j.CPUTimeMicros)
	for _, t := range [...]*slurm.TRES{&j.Requested, &j.Allocated} {
		for _, v := range [...]int64{t.CPU, t.MemMiB, t.Nodes, t.Billing, t.GPU} {
			b = appendInt8(b, v)
		}
		b = appendJSONB(b, gpuTypes(t.GPUByType))
	}
	b = appendInt8(b, j.Allocated.EnergyJ)
	b = appendText(b, j.NodeList)
	b = appendInt4(b, int32(j.StepCount))
	b = appendStepsJSONB(b, j.Steps)
	b = appendText(b, j.Hash())
	return appendText(b, source)
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendInt4(b []byte, v int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func appendBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendOptInt8(b []byte, p *int64) []byte {
	if p == nil {
		return appendNull(b)
	}
	return appendInt8(b, *p)
}

func appendTime(b []byte, t time.Time) []byte {
	return appendInt8(b, t.UnixMicro()-pgEpochMicros)
}

func appendOptTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendNull(b)
	}
	return appendTime(b, t)
}

// appendJSONB writes a jsonb value: a version byte (1), then the text.
func appendJSONB(b []byte, doc []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(doc)))
	b = append(b, 1)
	return append(b, doc...)
}

// appendStepsJSONB encodes the steps straight into b, its length filled
// in afterwards.
func appendStepsJSONB(b []byte, steps []slurm.Step) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0, 1)
	b = slurm.AppendStepsJSON(b, steps)
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// copyHeader opens a binary COPY stream: the signature, no flags, no
// header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// copyReader streams a binary COPY: the header, the tuples next appends
// (a batch at a time, so memory holds one batch), the trailer.
type copyReader struct {
	next    func(b []byte) ([]byte, bool) // appends one whole tuple; false when none is left
	buf     []byte
	off     int
	started bool
	ended   bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.ended {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		if !r.started {
			r.buf, r.started = append(r.buf, copyHeader...), true
		}
		for len(r.buf) < 256<<10 {
			var more bool
			if r.buf, more = r.next(r.buf); !more {
				r.buf, r.ended = binary.BigEndian.AppendUint16(r.buf, 0xffff), true
				break
			}
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// copyBinary runs one binary COPY of columns into table on conn.
func copyBinary(ctx context.Context, conn *pgconn.PgConn, table string, columns []string, next func(b []byte) ([]byte, bool)) (int64, error) {
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(columns, ", ") + ") FROM STDIN (FORMAT binary)"
	tag, err := conn.CopyFrom(ctx, &copyReader{next: next}, sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// CopyJobs copies the records next yields into table (jobs, or a table
// shaped like it) by one binary COPY, the way a window writes new jobs.
// It is the benchmarks' physical limit: no lookup, no staging, no merge.
func CopyJobs(ctx context.Context, conn *pgx.Conn, table, source string, next func(*slurm.Job) bool) (int64, error) {
	var j slurm.Job
	return copyBinary(ctx, conn.PgConn(), table, Columns(), func(b []byte) ([]byte, bool) {
		if !next(&j) {
			return b, false
		}
		b = binary.BigEndian.AppendUint16(b, rowFields)
		return appendRow(b, &j, source), true
	})
}
