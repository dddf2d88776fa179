package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// apiBudgetList is the budgets the token's owner may see, as they stand.
type apiBudgetList struct {
	AsOf    string      `json:"as_of" doc:"when the balances were worked out (RFC 3339, UTC)"`
	Budgets []apiBudget `json:"budgets"`
}

// apiBudget is one budget and its balance, as the account page shows it.
type apiBudget struct {
	ID                int64       `json:"id"`
	Account           string      `json:"account"`
	User              string      `json:"user" doc:"empty for the whole account, else a cap for this person"`
	Unit              string      `json:"unit" doc:"money, core-hours, gpu-hours or billing-hours"`
	Starts            string      `json:"starts" doc:"first day of the range (YYYY-MM-DD, UTC)"`
	Ends              string      `json:"ends" doc:"first day after the range"`
	Amount            apiQuantity `json:"amount"`
	Charged           apiQuantity `json:"charged" doc:"the statements of the range's periods, as they show it"`
	Accruing          apiQuantity `json:"accruing" doc:"what the running jobs have cost so far at today's rates"`
	Remaining         apiQuantity `json:"remaining" doc:"amount less charged and accruing (negative when overspent)"`
	UsedPercent       int64       `json:"used_percent" doc:"(charged + accruing) / amount, whole percent rounded down"`
	ThresholdsReached []int       `json:"thresholds_reached"`
	RunsOut           string      `json:"runs_out" doc:"the day the last 14 days' rate spends the rest (YYYY-MM-DD), empty when it lasts the range"`
	Enforce           bool        `json:"enforce" doc:"whether Tally holds the account in Slurm once it is spent"`
}

// apiQuantity is an amount of a budget's unit.
type apiQuantity struct {
	Value string `json:"value" doc:"as the pages show it: money rounded to the minor unit, use in hours with two decimals, rounded down"`
	Unit  string `json:"unit" doc:"the currency for money, else core-hours, gpu-hours or billing-hours"`
	Exact string `json:"exact" doc:"money to the micro-unit (six decimals); use in unit-seconds"`
}

func (f figures) quantity(b billing.Budget, v int64) apiQuantity {
	if b.Unit == billing.UnitMoney {
		return apiQuantity{Value: f.pol.Format(billing.Micros(v), b.Currency), Unit: b.Currency, Exact: billing.Micros(v).String()}
	}
	return apiQuantity{Value: billing.FormatHours(v), Unit: string(b.Unit), Exact: strconv.FormatInt(v, 10)}
}

// apiBudgets answers the budgets the pages show the same person (the one
// rule, VisibleBudgets), each with its balance now.
func (s *Server) apiBudgets(r *http.Request, v *Viewer) (any, error) {
	now := time.Now()
	bals, err := s.balances(r.Context(), v, r.URL.Query().Get("account"), now)
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(r.Context())}
	out := apiBudgetList{AsOf: now.UTC().Format(time.RFC3339), Budgets: []apiBudget{}}
	for _, bal := range bals {
		b := bal.Budget
		ab := apiBudget{ID: b.ID, Account: b.Account, User: b.User, Unit: string(b.Unit), Starts: b.Starts.Format("2006-01-02"),
			Ends: b.Ends.Format("2006-01-02"), Amount: f.quantity(b, b.Amount), Charged: f.quantity(b, bal.Charged),
			Accruing: f.quantity(b, bal.Accruing), Remaining: f.quantity(b, bal.Remaining()), UsedPercent: bal.UsedPercent(),
			ThresholdsReached: append([]int{}, bal.Crossed()...), Enforce: b.Enforce}
		if bal.RunsOut != nil {
			ab.RunsOut = bal.RunsOut.UTC().Format("2006-01-02")
		}
		out.Budgets = append(out.Budgets, ab)
	}
	return out, nil
}
