package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/slurm"
)

// Walking a job list page by page, forwards and then backwards, meets
// every row exactly once and in the order of one big sorted query: with
// ties in the sort column, rows with no value (running jobs) and every
// sort direction.
func TestKeysetPagingMeetsEveryRowOnce(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	var jobs []slurm.Job
	base := at("2026-10-01T00:00:00Z")
	for i := range 137 {
		j := mk(int64(1000+i), "u1", "a1", "cpu", "normal", int64(1+i%4), 1024, "2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z")
		j.End = base.Add(time.Duration(i%23) * time.Hour) // ties on end
		j.ElapsedSeconds = int64(i % 5)
		if i%11 == 0 { // still running: no end
			j.End, j.State = time.Time{}, "RUNNING"
		}
		jobs = append(jobs, j)
	}
	jobs = append(jobs, mk(5000, "someone-else", "a2", "cpu", "normal", 1, 1, "2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z"))
	addJobs(t, pool, jobs...)
	s := New(pool)
	sc := Scope{User: "u1"}
	for _, sort := range []string{"end", "cpus", "gpus", "elapsed", "job", "cost", "efficiency", "account", "user", "name", "partition", "state"} {
		for _, desc := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s desc=%v", sort, desc), func(t *testing.T) {
				all, err := s.Jobs(ctx, sc, JobFilter{Sort: sort, Desc: desc, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if len(all) != 137 {
					t.Fatalf("one query: %d rows, want 137", len(all))
				}
				want := ids(all)
				const size = 10
				var pages [][]JobRow
				f := JobFilter{Sort: sort, Desc: desc, Limit: size}
				for {
					page, err := s.Jobs(ctx, sc, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					pages = append(pages, page)
					c := page[len(page)-1].CursorFor(sort)
					f.After = &c
				}
				var forward []int64
				for _, p := range pages {
					forward = append(forward, ids(p)...)
				}
				if !slices.Equal(forward, want) {
					t.Fatalf("forward walk:\n got %v\nwant %v", forward, want)
				}
				// Back from the last page, each Before page is the page before.
				for i := len(pages) - 1; i > 0; i-- {
					c := pages[i][0].CursorFor(sort)
					// A round trip through the URL form, as the pages do it.
					cur, ok := ParseCursor(c.String())
					if !ok {
						t.Fatalf("cursor %q does not parse", c.String())
					}
					prev, err := s.Jobs(ctx, sc, JobFilter{Sort: sort, Desc: desc, Limit: size, Before: cur})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(ids(prev), ids(pages[i-1])) {
						t.Fatalf("before page %d: got %v want %v", i, ids(prev), ids(pages[i-1]))
					}
				}
			})
		}
	}
}

func ids(rows []JobRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.JobID
	}
	return out
}

func TestParseCursorRefusesGarbage(t *testing.T) {
	for _, s := range []string{"", "x", "v", "v.", "v.abc.1", "q.1.2", "n.", "n.1e3"} {
		if c, ok := ParseCursor(s); ok {
			t.Errorf("%q parsed as %+v", s, c)
		}
	}
	for _, c := range []Cursor{{Null: true, Row: 7}, {Value: "2026-10-01T00:00:00Z", Row: 9}, {Value: "a.b.c", Row: 1}, {Value: "", Row: 3}} {
		got, ok := ParseCursor(c.String())
		if !ok || *got != c {
			t.Errorf("%+v → %q → %+v %v", c, c.String(), got, ok)
		}
	}
}
