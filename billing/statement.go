package billing

import "sort"

// StatementLine is one account's charges for one component in a period:
// the exact sum of its jobs' lines, and that sum rounded once.
type StatementLine struct {
	Account   string
	Component string
	Jobs      int
	Exact     Micros // sum of the jobs' micro-unit amounts
	Amount    Micros // Exact rounded to the minor unit: what is billed
}

// Statement is a set of rounded lines; its total is the sum of the lines.
type Statement struct {
	Lines []StatementLine
	Total Micros
}

// AccountLines are one job's charge lines with the account they bill.
type AccountLines struct {
	Account string
	Lines   []Line
}

// BuildStatement sums job lines per account and component and rounds each
// sum once, by rule, to minorDigits decimals.
func BuildStatement(jobs []AccountLines, rule Rounding, minorDigits int) Statement {
	type key struct{ account, component string }
	sums := map[key]*StatementLine{}
	for _, j := range jobs {
		seen := map[string]bool{}
		for _, l := range j.Lines {
			k := key{j.Account, l.Component}
			sl := sums[k]
			if sl == nil {
				sl = &StatementLine{Account: j.Account, Component: l.Component}
				sums[k] = sl
			}
			sl.Exact += l.Amount
			if !seen[l.Component] {
				sl.Jobs++
				seen[l.Component] = true
			}
		}
	}
	var st Statement
	for _, sl := range sums {
		sl.Amount = rule.ToMinor(sl.Exact, minorDigits)
		st.Lines = append(st.Lines, *sl)
		st.Total += sl.Amount
	}
	sort.Slice(st.Lines, func(i, j int) bool {
		a, b := st.Lines[i], st.Lines[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return componentOrder(a.Component) < componentOrder(b.Component)
	})
	return st
}

func componentOrder(c string) int {
	for i, x := range []string{"cpu", "mem", "gpu", "node", "billing", "cpu_time", "fee", "minimum"} {
		if x == c {
			return i
		}
	}
	return 99
}
