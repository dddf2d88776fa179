package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/templates"
)

// statementAccounts is nil (all) for admins and finance, else the accounts
// the viewer coordinates.
func statementAccounts(v *Viewer) []string {
	if v.Has(RoleAdmin) || v.Has(RoleFinance) {
		return nil
	}
	if v.Accounts == nil {
		return []string{}
	}
	return v.Accounts
}

func (s *Server) periods(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ps, err := s.billing.PeriodSummaries(r.Context(), statementAccounts(v))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.Periods(s.page(r, "Periods"), ps, s.currency(r)))
}

func (s *Server) periodPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ps, err := s.billing.Statements(r.Context(), r.PathValue("name"), statementAccounts(v), s.rounding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.PeriodPage(s.page(r, "Period "+ps.Period.Name), ps, v.Has(RoleAdmin), true))
}

func (s *Server) closePeriod(w http.ResponseWriter, r *http.Request, v *Viewer) {
	name := r.PathValue("name")
	ps, err := s.billing.ClosePeriod(r.Context(), name, v.User, s.rounding)
	var be *billing.Error
	if errors.As(err, &be) {
		s.flash(r, "error", be.SafeMessage())
		http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.recordAdmin(r, v, "period_closed", fmt.Sprintf("%s: %d statements, total %s", name, len(ps.Statements), ps.Total))
	s.flash(r, "success", fmt.Sprintf("Closed %s: %d statements, numbered and frozen.", name, len(ps.Statements)))
	http.Redirect(w, r, "/periods/"+name, http.StatusSeeOther)
}

func (s *Server) periodCSV(what string) func(http.ResponseWriter, *http.Request, *Viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *Viewer) {
		name := r.PathValue("name")
		if _, err := s.billing.Period(r.Context(), name); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tally-%s-%s.csv"`, name, what))
		var err error
		if what == "accounts" {
			err = s.billing.WriteAccountSummary(r.Context(), w, name, statementAccounts(v), s.rounding)
		} else {
			err = s.billing.WriteJobLines(r.Context(), w, name, statementAccounts(v))
		}
		if err != nil {
			s.log.Error("period export failed", "period", name, "what", what, "err", err)
			return
		}
		if v.Has(RoleFinance) || v.Has(RoleAdmin) {
			s.recordAdmin(r, v, "export", name+" "+what)
		}
	}
}
