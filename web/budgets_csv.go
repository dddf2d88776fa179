package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// budgetsCSV is every budget with its balance now, for finance: amounts
// as the pages show them (money rounded once by the policy, use in
// unit-seconds exactly), one row per budget. Columns in docs/csv.md.
func (s *Server) budgetsCSV(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	now := time.Now()
	bals, err := s.balances(ctx, v, "", now)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(ctx)
	csvDownload(w, r, "tally-budgets-"+now.UTC().Format("2006-01-02")+".csv")
	cw := csv.NewWriter(w)
	cw.Write([]string{"budget_id", "account", "user", "unit", "currency", "starts", "ends", "amount", "charged", "accruing", "remaining",
		"used_percent", "thresholds_reached", "runs_out", "enforce", "as_of"})
	for _, bal := range bals {
		b := bal.Budget
		num := func(v int64) string {
			if b.Unit == billing.UnitMoney {
				return pol.Format(pol.Round(billing.Micros(v), b.Currency), b.Currency)
			}
			return strconv.FormatInt(v, 10)
		}
		runsOut := ""
		if bal.RunsOut != nil {
			runsOut = bal.RunsOut.UTC().Format("2006-01-02")
		}
		crossed := ""
		for i, t := range bal.Crossed() {
			if i > 0 {
				crossed += " "
			}
			crossed += strconv.Itoa(t)
		}
		cw.Write([]string{strconv.FormatInt(b.ID, 10), billingpg.CSVSafe(b.Account), billingpg.CSVSafe(b.User), string(b.Unit), b.Currency,
			b.Starts.Format("2006-01-02"), b.Ends.Format("2006-01-02"), num(b.Amount), num(bal.Charged), num(bal.Accruing),
			num(bal.Remaining()), strconv.FormatInt(bal.UsedPercent(), 10), crossed, runsOut, strconv.FormatBool(b.Enforce),
			now.UTC().Format(time.RFC3339)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Warn("budgets export cut short", "id", requestID(ctx), "err", err)
	}
}
