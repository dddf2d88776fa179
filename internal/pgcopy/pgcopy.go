// Package pgcopy streams rows into PostgreSQL through one COPY that runs
// beside the code producing them, so producing and writing use both cores
// and memory holds a few batches at most.
package pgcopy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

const batchSize = 2000

// Stream is one running COPY into a table.
type Stream struct {
	ctx     context.Context
	stop    context.CancelFunc
	batches chan [][]any
	copied  chan error
	batch   [][]any
	done    bool
}

// Start begins a COPY of columns into table within tx.
func Start(ctx context.Context, tx pgx.Tx, table string, columns []string) *Stream {
	cctx, stop := context.WithCancel(ctx)
	s := &Stream{ctx: cctx, stop: stop, batches: make(chan [][]any, 4), copied: make(chan error, 1)}
	in := s.batches
	go func() {
		_, err := tx.CopyFrom(cctx, pgx.Identifier{table}, columns, &source{in: in})
		if err != nil {
			// Keep draining so a producer never blocks on a dead copy.
			go func() {
				for range in {
				}
			}()
		}
		s.copied <- err
	}()
	return s
}

// Add queues one row.
func (s *Stream) Add(row []any) error {
	s.batch = append(s.batch, row)
	if len(s.batch) < batchSize {
		return nil
	}
	return s.flush()
}

// AddAll queues rows.
func (s *Stream) AddAll(rows [][]any) error {
	s.batch = append(s.batch, rows...)
	if len(s.batch) < batchSize {
		return nil
	}
	return s.flush()
}

func (s *Stream) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	select {
	case s.batches <- s.batch:
		s.batch = make([][]any, 0, batchSize)
		return nil
	case err := <-s.copied:
		s.copied <- err
		return err
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// Finish sends what is left and waits for the COPY to end. A second call
// returns nil.
func (s *Stream) Finish() error {
	if s.done {
		return nil
	}
	s.done = true
	defer s.stop()
	err := s.flush()
	close(s.batches)
	cerr := <-s.copied
	if err != nil {
		return err
	}
	return cerr
}

// Abort stops the COPY; the caller rolls the transaction back.
func (s *Stream) Abort() {
	s.stop()
	s.Finish()
}

// source feeds COPY from a channel of row batches.
type source struct {
	in  <-chan [][]any
	cur [][]any
	row []any
}

func (c *source) Next() bool {
	for len(c.cur) == 0 {
		b, ok := <-c.in
		if !ok {
			return false
		}
		c.cur = b
	}
	c.row, c.cur = c.cur[0], c.cur[1:]
	return true
}

func (c *source) Values() ([]any, error) { return c.row, nil }
func (c *source) Err() error             { return nil }
