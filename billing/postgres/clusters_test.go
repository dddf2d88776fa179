package postgres

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// Two rate cards: one for every cluster, and one the gpu cluster's jobs
// are rated by instead (dearer CPUs and memory).
const siteCards = `name: site
currency: USD
minor_digits: 2
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    basis: requested
    charged_states: [COMPLETED]
    qos: {normal: "1.0"}
    partitions:
      cpu: {combine: sum, cpu: "0.02", mem: "0.005"}
`

const gpuClusterCards = `name: gpu-site
cluster: gpu
currency: USD
minor_digits: 2
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    basis: requested
    charged_states: [COMPLETED]
    qos: {normal: "1.0"}
    partitions:
      cpu: {combine: sum, cpu: "0.05", mem: "0.01"}
`

func importYAML(t *testing.T, s *Store, y string) error {
	t.Helper()
	cards, err := billing.ParseRateFile(strings.NewReader(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(context.Background(), cards, "test")
	return err
}

// One account's jobs on two clusters: each job is rated by its cluster's
// card, the account's statement has a line per cluster and component and
// one total (the sum of its lines), the person's statement likewise, the
// close issues and hashes exactly that, and the CSVs carry the clusters.
func TestStatementLinesPerCluster(t *testing.T) {
	pool := pgtest.New(t)
	s := New(pool)
	ctx := context.Background()
	for _, y := range []string{siteCards, gpuClusterCards} {
		if err := importYAML(t, s, y); err != nil {
			t.Fatal(err)
		}
	}
	// Job ids repeat across clusters: each cluster numbers its own jobs.
	cpu1 := mk(1, "alice", "physics", "cpu", "normal", 4, 16*1024, "2026-10-10T09:30:00Z", "2026-10-10T12:00:00Z") // 2.5 h
	gpu1 := mk(1, "bob", "physics", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z")      // 1.25 h
	gpu2 := mk(2, "alice", "physics", "cpu", "normal", 1, 512, "2026-10-05T11:48:00Z", "2026-10-05T12:00:00Z")     // 0.2 h
	cpu3 := mk(3, "carol", "chem", "cpu", "normal", 1, 1024, "2026-10-10T10:45:00Z", "2026-10-10T12:00:00Z")       // 1.25 h
	cpu1.Cluster, cpu3.Cluster = "cpu", "cpu"
	gpu1.Cluster, gpu2.Cluster = "gpu", "gpu"
	addJobs(t, pool, cpu1, gpu1, gpu2, cpu3)
	if err := s.EnsureMonths(ctx, at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RateOpen(ctx, RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAdjustment(ctx, Adjustment{Period: "2026-10", Account: "physics", User: "alice", Amount: 1_005_000, Reason: "late fee", Author: "test"}); err != nil {
		t.Fatal(err)
	}

	rows, err := pool.Query(ctx, `SELECT j.cluster || '/' || j.job_id, rc.name FROM job_charges c JOIN jobs j ON j.id = c.job_row
		JOIN rate_cards rc ON rc.id = c.rate_card_id`)
	if err != nil {
		t.Fatal(err)
	}
	cardOf := map[string]string{}
	for rows.Next() {
		var job, card string
		rows.Scan(&job, &card)
		cardOf[job] = card
	}
	rows.Close()
	for job, want := range map[string]string{"cpu/1": "site", "cpu/3": "site", "gpu/1": "gpu-site", "gpu/2": "gpu-site"} {
		if cardOf[job] != want {
			t.Errorf("job %s rated by %q, want %q", job, cardOf[job], want)
		}
	}

	type line struct {
		cluster, component string
		jobs               int
		exact, amount      string
	}
	linesOf := func(ls []billing.StatementLine) []line {
		out := make([]line, 0, len(ls))
		for _, l := range ls {
			out = append(out, line{l.Cluster, l.Component, l.Jobs, l.Exact.String(), l.Amount.String()})
		}
		return out
	}
	same := func(what string, got, want []line) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: lines\n %v\nwant\n %v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: line %d is %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	physicsLines := []line{
		{"cpu", "cpu", 1, "0.200000", "0.200000"},
		{"cpu", "mem", 1, "0.200000", "0.200000"},
		{"gpu", "cpu", 2, "0.072500", "0.070000"}, // 0.0625 + 0.01
		{"gpu", "mem", 2, "0.013500", "0.010000"}, // 0.0125 + 0.001
		{"", billing.AdjustmentsComponent, 1, "1.005000", "1.010000"},
	}
	chemLines := []line{
		{"cpu", "cpu", 1, "0.025000", "0.030000"},
		{"cpu", "mem", 1, "0.006250", "0.010000"},
	}
	check := func(when string, ps PeriodStatements) {
		t.Helper()
		if len(ps.Statements) != 2 {
			t.Fatalf("%s: %d statements", when, len(ps.Statements))
		}
		chem, physics := ps.Statements[0], ps.Statements[1]
		same(when+" physics", linesOf(physics.Lines), physicsLines)
		same(when+" chem", linesOf(chem.Lines), chemLines)
		for _, st := range ps.Statements {
			var sum billing.Micros
			for _, l := range st.Lines {
				sum += l.Amount
			}
			if st.Total != sum {
				t.Errorf("%s %s: total %s, lines add to %s", when, st.Account, st.Total, sum)
			}
			if st.HashVersion != billing.HashVersion || st.Hash(ps.Period) != st.SHA256 {
				t.Errorf("%s %s: hash v%d %s does not verify", when, st.Account, st.HashVersion, st.SHA256)
			}
		}
		if physics.Total.String() != "1.490000" || physics.Jobs != 3 || chem.Total.String() != "0.040000" || chem.Jobs != 1 {
			t.Errorf("%s: physics %s (%d jobs), chem %s (%d jobs)", when, physics.Total, physics.Jobs, chem.Total, chem.Jobs)
		}
		if got := strings.Join(physics.Clusters(), " "); got != "cpu gpu" {
			t.Errorf("%s: physics clusters %q", when, got)
		}
		if ps.Total.String() != "1.530000" || ps.Jobs != 4 {
			t.Errorf("%s: period %s, %d jobs", when, ps.Total, ps.Jobs)
		}
	}
	preview, err := s.Statements(ctx, "2026-10", nil, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	check("preview", preview)

	// alice: her cpu job, her gpu job, the adjustment against her.
	us, err := s.UserStatement(ctx, "2026-10", "alice", nil, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	same("alice", linesOf(us.Lines), []line{
		{"cpu", "cpu", 1, "0.200000", "0.200000"},
		{"cpu", "mem", 1, "0.200000", "0.200000"},
		{"gpu", "cpu", 1, "0.010000", "0.010000"},
		{"gpu", "mem", 1, "0.001000", "0.000000"},
		{"", billing.AdjustmentsComponent, 1, "1.005000", "1.010000"},
	})
	if us.Total.String() != "1.420000" || us.Jobs != 2 {
		t.Errorf("alice: %s, %d jobs", us.Total, us.Jobs)
	}

	closed, err := s.ClosePeriod(ctx, "2026-10", "test", billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	check("close", closed)
	issued, err := s.Statements(ctx, "2026-10", nil, billing.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	check("issued", issued)
	if _, diffs, err := s.Recheck(ctx, "2026-10", billing.HalfUp); err != nil || len(diffs) > 0 {
		t.Errorf("recheck: %v %v", diffs, err)
	}

	var acc bytes.Buffer
	if err := s.WriteAccountSummary(ctx, &acc, "2026-10", nil, billing.HalfUp); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&acc).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	clustersOf := map[string]string{}
	for _, r := range recs[1:] {
		clustersOf[r[col["account"]]] = r[col["clusters"]]
	}
	if len(recs) != 3 || clustersOf["physics"] != "cpu gpu" || clustersOf["chem"] != "cpu" {
		t.Errorf("accounts.csv: one row per statement with its clusters, got\n%s", acc.String())
	}

	// The job lines CSV, summed per account, cluster and component and
	// rounded once, gives the statement's lines.
	var jobs bytes.Buffer
	if err := s.WriteJobLines(ctx, &jobs, "2026-10", nil); err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(&jobs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col = map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	pol, _ := s.Policy(ctx, billing.HalfUp)
	sums := map[string]billing.Micros{}
	for _, r := range recs[1:] {
		for _, c := range []string{"cpu", "mem"} {
			m, err := billing.ParseMicros(r[col[c]])
			if err != nil {
				t.Fatal(err)
			}
			sums[r[col["account"]]+" "+r[col["cluster"]]+" "+c] += m
		}
	}
	for _, st := range issued.Statements {
		for _, l := range st.Lines {
			if l.Component == billing.AdjustmentsComponent {
				continue
			}
			if got := pol.Round(sums[st.Account+" "+l.Cluster+" "+l.Component], "USD"); got != l.Amount {
				t.Errorf("job lines CSV: %s %s %s rounds to %s, the statement says %s", st.Account, l.Cluster, l.Component, got, l.Amount)
			}
		}
	}

	// Statements add the clusters' amounts: a card in another currency
	// is refused whichever cluster it names.
	eur := strings.Replace(strings.Replace(gpuClusterCards, "currency: USD", "currency: EUR", 1), "name: gpu-site", "name: gpu-euro", 1)
	if err := importYAML(t, s, eur); err == nil || !strings.Contains(err.Error(), "two currencies") {
		t.Errorf("a EUR card for the gpu cluster beside USD cards: %v", err)
	}
}
