package postgres

import (
	"strconv"
	"strings"
	"time"
)

// Cursor marks a row of a sorted job list: the row's value in the sort
// column (as text, cast back by the query) and its id, which breaks ties.
type Cursor struct {
	Value string
	Null  bool // the row has no value in the sort column
	Row   int64
}

// String encodes the cursor for a URL: "n.<row>" or "v.<row>.<value>".
func (c Cursor) String() string {
	if c.Null {
		return "n." + strconv.FormatInt(c.Row, 10)
	}
	return "v." + strconv.FormatInt(c.Row, 10) + "." + c.Value
}

// ParseCursor reads what String wrote; anything else is no cursor at all,
// so a mangled link shows the first page rather than an error.
func ParseCursor(s string) (*Cursor, bool) {
	kind, rest, ok := strings.Cut(s, ".")
	if !ok {
		return nil, false
	}
	rowText, value, _ := strings.Cut(rest, ".")
	row, err := strconv.ParseInt(rowText, 10, 64)
	if err != nil {
		return nil, false
	}
	switch kind {
	case "n":
		return &Cursor{Null: true, Row: row}, true
	case "v":
		return &Cursor{Value: value, Row: row}, true
	}
	return nil, false
}

// CursorFor is where this row stands in a list sorted by sort.
func (r JobRow) CursorFor(sort string) Cursor {
	c := Cursor{Row: r.Row}
	num := func(p *int64) {
		if p == nil {
			c.Null = true
			return
		}
		c.Value = strconv.FormatInt(*p, 10)
	}
	switch sort {
	case "cost":
		if r.Total == nil {
			c.Null = true
		} else {
			c.Value = strconv.FormatInt(int64(*r.Total), 10)
		}
	case "elapsed":
		num(&r.ElapsedSeconds)
	case "cpus":
		num(&r.CPUs)
	case "efficiency":
		num(r.EfficiencyPPM)
	case "job":
		num(&r.JobID)
	case "user":
		c.Value = r.User
	case "account":
		c.Value = r.Account
	case "name":
		c.Value = r.Name
	case "partition":
		c.Value = r.Partition
	case "state":
		c.Value = r.State
	case "gpus":
		num(&r.GPUs)
	default: // end
		if r.End == nil {
			c.Null = true
		} else {
			c.Value = r.End.UTC().Format(time.RFC3339Nano)
		}
	}
	return c
}

// fits says whether the cursor's value can be cast to the sort column's
// SQL type, so that an edited link cannot make the query fail.
func (c Cursor) fits(typ string) bool {
	if c.Null {
		return true
	}
	switch typ {
	case "timestamptz":
		// Go reads year 0000; PostgreSQL has no year 0 and fails the query.
		t, err := time.Parse(time.RFC3339Nano, c.Value)
		return err == nil && t.Year() >= 1
	case "bigint", "numeric":
		_, err := strconv.ParseInt(c.Value, 10, 64)
		return err == nil
	}
	return true
}

// CursorFits says whether c can mark a row of a list sorted by sort; a
// page refuses one that cannot (an edited link) instead of guessing.
func CursorFits(sort string, c *Cursor) bool {
	if c == nil {
		return true
	}
	_, typ, ok := sortColumn(sort)
	if !ok {
		typ = "timestamptz"
	}
	return c.fits(typ)
}
