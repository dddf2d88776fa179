package templates

import "github.com/tally-hpc/tally/billing"

// The figures pages show come as view models: every amount already
// rounded and formatted by billing's rounding policy (web builds them in
// web/figures.go), every count already counted. Templates print them; they
// compute no figure of their own.

// Figure is an amount as shown ("12.35 USD") with its exact micro-unit
// value, which sortable tables sort by.
type Figure struct {
	Shown string
	Exact string
}

// PeriodRow is one period with its statements' total in a scope.
type PeriodRow struct {
	Name, From, To, Status string
	Jobs                   string
	Total                  Figure
}

// PeriodHead is what a period page says about the period itself.
type PeriodHead struct {
	Name     string
	Closed   bool
	ClosedAt string
	ClosedBy string
	Total    Figure
	Jobs     string
	Rounding string // how the statements' rounding moved the total from the exact sum, "" when it did not
}

// StatementView is one account's statement.
type StatementView struct {
	Number   string
	Account  string
	Details  billing.AccountDetails
	Jobs     string
	Lines    []LineView
	Total    Figure
	Rounding string // how rounding moved the total from the exact sum, "" when it did not
	SHA256   string
	// ByCluster: the lines charge for more than one cluster, so the
	// table says which cluster each line is (one cluster: no column).
	ByCluster bool
}

// LineView is one statement line.
type LineView struct {
	Account, Cluster, Component, Jobs, Exact string
	Amount                                   Figure
}

// BreakdownRow is one row of a by-user, by-partition or by-QOS table.
type BreakdownRow struct {
	Key, Jobs, CoreHours, GPUHours string
	Total                          Figure
}

// ChangeRow is how an account's total moved since the last recorded preview.
type ChangeRow struct {
	Account           string
	Before, Now, Diff Figure
}

// AdjustmentRow is one credit or debit.
type AdjustmentRow struct {
	Account, User, Job, Amount, Reason, Author string
}

// AnomalyRow is one thing to check before a close.
type AnomalyRow struct {
	Kind, Count, Detail string
	Href                string // the jobs behind it, "" when there is no list to show
}

// History is every account's statement totals over the last closed periods.
type History struct {
	Periods []string
	Rows    []HistoryRow
	Sums    []Figure // per period, all accounts
}

// HistoryRow is one account across the periods (Cells[k] is Periods[k]).
type HistoryRow struct {
	Account string
	Cells   []Figure
}

// SummaryView is a scope's figures for a period.
type SummaryView struct {
	Jobs, CoreHours, GPUHours, Efficiency string
	Total, Idle                           Figure
}

// TotalRow is a name (an account, a partition) with its jobs and charges.
type TotalRow struct {
	Name, Jobs string
	Total      Figure
}

// LastStatement is the viewer's own total in the last closed period.
type LastStatement struct {
	Period, User, Jobs string
	Total              Figure
	Scope              string // the dashboard's scope, in words: the tiles' scope
	Own                bool   // the scope is the person's own jobs: their statement is the figure
}

// PeriodLink links an account's statement of a period.
type PeriodLink struct {
	Name   string
	Closed bool
}

// JobTotalsView adds up every job a filtered list matches.
type JobTotalsView struct {
	Jobs, CoreHours, GPUHours string
	Total                     Figure
}

// UserStatementView is one person's statement for a period.
type UserStatementView struct {
	Period, From, To, Status, User string
	Jobs, CoreHours, GPUHours      string
	Lines                          []LineView
	Total                          Figure
	ByCluster                      bool // lines from more than one cluster: a cluster column
}
