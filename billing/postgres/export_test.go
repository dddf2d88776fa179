package postgres

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"os"
	"sort"
	"testing"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := "testdata/" + name
	if *update {
		os.WriteFile(p, got, 0o644)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// The exports of a closed period, byte for byte, including cells a
// spreadsheet would otherwise run and names with commas and quotes.
func TestExportsGolden(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	importStandard(t, s)
	weird := mk(2, `=HYPERLINK("http://x")`, `chem, "wet" lab`, "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z")
	arr := mk(3, "dave", "physics", "gpu", "standby", 8, 64*1024, "2026-10-10T09:00:00Z", "2026-10-10T12:00:00Z")
	arr.ArrayJobID = 3
	task := int64(0)
	arr.ArrayTaskID = &task
	arr.Requested.GPU, arr.Requested.GPUByType = 2, map[string]int64{"a100": 2}
	named := mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z")
	named.Name = "fit, \"v2\"\nsecond line"
	weird.Name = "+cmd|' /C calc'!A0"
	addJobs(t, pool, named, weird, arr)
	s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"))
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	var acc, jobs bytes.Buffer
	if err := s.WriteAccountSummary(ctx, &acc, "2026-10", nil, billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteJobLines(ctx, &jobs, "2026-10", nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "2026-10-accounts.csv", acc.Bytes())
	// Job lines stream in storage order (no sort: a million-row sort cost
	// more than the export); compare them sorted.
	recs, err := csv.NewReader(&jobs).ReadAll()
	if err != nil {
		t.Fatalf("job lines are not RFC 4180: %v", err)
	}
	sort.Slice(recs[1:], func(i, j int) bool { return recs[1+i][2] < recs[1+j][2] })
	var sorted bytes.Buffer
	cw := csv.NewWriter(&sorted)
	cw.WriteAll(recs)
	golden(t, "2026-10-jobs.csv", sorted.Bytes())
	if recs[1][6] != "fit, \"v2\"\nsecond line" || recs[2][6] != "'+cmd|' /C calc'!A0" {
		t.Errorf("job names %q %q", recs[1][6], recs[2][6])
	}
}
