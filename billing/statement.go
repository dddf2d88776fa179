package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Period is a billing period: open while charges may still change, closed
// once its statements are issued (then nothing in it changes).
type Period struct {
	ID       int64
	Name     string
	Starts   time.Time
	Ends     time.Time
	Status   string // PeriodOpen or PeriodClosed
	ClosedAt *time.Time
	ClosedBy string
}

// Period states.
const (
	PeriodOpen   = "open"
	PeriodClosed = "closed"
)

// Closed says whether the period's statements are issued.
func (p Period) Closed() bool { return p.Status == PeriodClosed }

// ClosableAt is when an open period may first be closed: once it has
// ended, so no job can still end inside it. The close refuses earlier and
// the period page shows this time on its disabled button; both ask here.
func (p Period) ClosableAt() time.Time { return p.Ends }

// Closable says whether the open period may be closed at now.
func (p Period) Closable(now time.Time) bool { return !now.Before(p.ClosableAt()) }

// StatementLine is one account's charges for one component on one
// cluster in a period: the exact sum of its jobs' lines, and that sum
// rounded once. Cluster is "" on the adjustments line, which is the
// account's and no cluster's, and on every line of a statement issued
// before lines were per cluster (hash versions 1 and 2).
type StatementLine struct {
	Account   string
	Cluster   string
	Component string
	Jobs      int    // jobs with a line of this component (adjustments: how many)
	Exact     Micros // sum of the jobs' micro-unit amounts
	Amount    Micros // Exact rounded to the minor unit: what is billed
}

// AccountDetails are what a statement prints about its account. They are
// frozen into a statement when its period closes; later edits apply to
// later periods.
type AccountDetails struct {
	DisplayName string
	PI          string
	CostCentre  string
	PONumber    string
}

// Statement is one account's bill for a period: a preview while the
// period is open, the issued snapshot once it is closed.
//
// Jobs is the number of distinct jobs charged to the account in the
// period (a job split across periods counts once in each, a job with
// several components once). Total is the sum of the rounded lines,
// adjustments included.
type Statement struct {
	Number      string // empty in a preview
	Account     string
	Currency    string
	Jobs        int
	Lines       []StatementLine
	Total       Micros
	Details     AccountDetails
	HashVersion int
	SHA256      string
}

// Charges is the total of the lines that are not adjustments.
func (st Statement) Charges() Micros {
	var m Micros
	for _, l := range st.Lines {
		if l.Component != AdjustmentsComponent {
			m += l.Amount
		}
	}
	return m
}

// Adjustments is the total of the adjustments line (zero when none).
func (st Statement) Adjustments() Micros { return st.Total - st.Charges() }

// Exact is the exact sum of every line before rounding: what the job
// lines export adds up to (plus adjustments).
func (st Statement) Exact() Micros {
	var m Micros
	for _, l := range st.Lines {
		m += l.Exact
	}
	return m
}

// AdjustmentsComponent names the statement line that carries an account's
// adjustments in a period.
const AdjustmentsComponent = "adjustments"

// ChargeSum is the exact sum of one component of the job lines of one
// account (and, when the reader grouped by person, one person) in a scope
// of a period, or (Component "") their count of charged jobs.
type ChargeSum struct {
	Account   string
	User      string
	Cluster   string // "" for adjustments
	Currency  string
	Component string
	Jobs      int
	Exact     Micros
}

// BuildStatements makes one statement per account from exact sums: sums
// of the same account, cluster and component are added exactly (a job has
// one account, one person and one cluster, so job counts add too), then
// each line is rounded once by the policy and the total is the sum of the
// lines. A cluster's charges are rounded on their own line so that what
// each cluster costs an account is on the statement and adds up to it.
// This is the only place statement figures are computed; previews,
// closes, person statements, pages and exports all come through it.
func (p Policy) BuildStatements(sums []ChargeSum) []Statement {
	type key struct{ account, cluster, component string }
	byAccount := map[string]*Statement{}
	lines := map[key]*StatementLine{}
	for _, s := range sums {
		st := byAccount[s.Account]
		if st == nil {
			st = &Statement{Account: s.Account}
			byAccount[s.Account] = st
		}
		if st.Currency == "" {
			st.Currency = s.Currency
		}
		if s.Component == "" {
			st.Jobs += s.Jobs
			continue
		}
		k := key{s.Account, s.Cluster, s.Component}
		l := lines[k]
		if l == nil {
			l = &StatementLine{Account: s.Account, Cluster: s.Cluster, Component: s.Component}
			lines[k] = l
		}
		l.Jobs += s.Jobs
		l.Exact += s.Exact
	}
	for _, l := range lines {
		st := byAccount[l.Account]
		st.Lines = append(st.Lines, *l)
	}
	out := make([]Statement, 0, len(byAccount))
	for _, st := range byAccount {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	cur := ""
	for i := range out {
		if out[i].Currency != "" {
			cur = out[i].Currency
			break
		}
	}
	for i := range out {
		st := &out[i]
		if st.Currency == "" {
			st.Currency = cur // an account with adjustments only
		}
		SortLines(st.Lines)
		for k := range st.Lines {
			st.Lines[k].Amount = p.Round(st.Lines[k].Exact, st.Currency)
			st.Total += st.Lines[k].Amount
		}
	}
	return out
}

// ByUser splits sums by person (sums read without a person's name go
// under "").
func ByUser(sums []ChargeSum) map[string][]ChargeSum {
	out := map[string][]ChargeSum{}
	for _, s := range sums {
		out[s.User] = append(out[s.User], s)
	}
	return out
}

// Sum adds statements' totals and jobs. It refuses to add amounts of
// different currencies.
func Sum(sts []Statement) (total Micros, jobs int, currency string, err error) {
	for _, st := range sts {
		if currency != "" && st.Currency != "" && st.Currency != currency {
			return 0, 0, "", Conflictf("statements in %s and %s cannot be added up", currency, st.Currency)
		}
		if st.Currency != "" {
			currency = st.Currency
		}
		total += st.Total
		jobs += st.Jobs
	}
	return total, jobs, currency, nil
}

// HashVersion is the canonical text statements are issued with now.
const HashVersion = 3

// Hash is SHA-256 over the statement's canonical text, so anyone can check
// a printed statement against its lines. Version 1 (statements issued
// before account details were frozen) covers the lines; version 2 also
// the account details printed on it; version 3 (lines per cluster) also
// each line's cluster. A statement keeps the version it was issued with,
// so an old one still verifies against its own text.
func (st Statement) Hash(p Period) string {
	var b strings.Builder
	version := st.HashVersion
	if version == 0 {
		version = HashVersion
	}
	fmt.Fprintf(&b, "tally-statement-v%d\nperiod %s %s %s\naccount %s\ncurrency %s\n", version, p.Name,
		p.Starts.UTC().Format(time.RFC3339), p.Ends.UTC().Format(time.RFC3339), st.Account, st.Currency)
	if version >= 2 {
		d := st.Details
		fmt.Fprintf(&b, "display_name %q\npi %q\ncost_centre %q\npo_number %q\njobs %d\n", d.DisplayName, d.PI, d.CostCentre, d.PONumber, st.Jobs)
	}
	for _, l := range st.Lines {
		if version >= 3 {
			fmt.Fprintf(&b, "line %q %s jobs=%d exact=%s amount=%s\n", l.Cluster, l.Component, l.Jobs, l.Exact, l.Amount)
			continue
		}
		fmt.Fprintf(&b, "line %s jobs=%d exact=%s amount=%s\n", l.Component, l.Jobs, l.Exact, l.Amount)
	}
	fmt.Fprintf(&b, "total %s\n", st.Total)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

func componentOrder(c string) int {
	for i, x := range []string{"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum", AdjustmentsComponent} {
		if x == c {
			return i
		}
	}
	return 99
}

// SortLines puts lines in the order statements print them: by cluster,
// each cluster's components in a fixed order, adjustments last. Lines
// without a cluster (statements issued before lines were per cluster)
// keep the component order they were hashed in.
func SortLines(lines []StatementLine) {
	sort.SliceStable(lines, func(a, b int) bool {
		la, lb := lines[a], lines[b]
		if adjA, adjB := la.Component == AdjustmentsComponent, lb.Component == AdjustmentsComponent; adjA != adjB {
			return adjB
		}
		if la.Cluster != lb.Cluster {
			return la.Cluster < lb.Cluster
		}
		if oa, ob := componentOrder(la.Component), componentOrder(lb.Component); oa != ob {
			return oa < ob
		}
		return la.Component < lb.Component
	})
}

// Clusters are the clusters a statement's lines charge for, in order.
// Pages print a cluster column only when there is more than one.
func (st Statement) Clusters() []string { return LineClusters(st.Lines) }

// LineClusters are the distinct clusters of lines (adjustments, which
// belong to no cluster, leave none), sorted.
func LineClusters(lines []StatementLine) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lines {
		if l.Cluster != "" && !seen[l.Cluster] {
			seen[l.Cluster] = true
			out = append(out, l.Cluster)
		}
	}
	sort.Strings(out)
	return out
}

// PeriodStatements is every account statement of a period in a scope,
// with their sum: the period's total and job count for that scope.
type PeriodStatements struct {
	Period     Period
	Statements []Statement
	Total      Micros
	Jobs       int
	Currency   string
}

// Exact is the exact sum of every line of the statements, before their
// rounding: what the job lines and adjustments exports add up to.
func (ps PeriodStatements) Exact() Micros {
	var m Micros
	for _, st := range ps.Statements {
		m += st.Exact()
	}
	return m
}

// NewPeriodStatements adds up a period's statements (refusing to add
// different currencies).
func NewPeriodStatements(p Period, sts []Statement) (PeriodStatements, error) {
	total, jobs, currency, err := Sum(sts)
	if err != nil {
		return PeriodStatements{Period: p}, fmt.Errorf("period %s: %w", p.Name, err)
	}
	return PeriodStatements{Period: p, Statements: sts, Total: total, Jobs: jobs, Currency: currency}, nil
}
