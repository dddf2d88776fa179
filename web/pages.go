package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/templates"
)

// me shows who the viewer is, their roles, and whether Slurm accepts the
// token Tally holds for them (a live call to slurmrestd).
func (s *Server) me(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.renderMe(w, r, v, http.StatusOK, templates.APITokenForm{ExpiresDays: "90"}, "", "")
}

// renderMe draws Your account, with the API token form as given and a
// token just made (newToken, shown this once) when there is one.
func (s *Server) renderMe(w http.ResponseWriter, r *http.Request, v *Viewer, status int, form templates.APITokenForm, newToken, newName string) {
	d := templates.MeData{User: v.User, SlurmUser: v.SlurmUser, Roles: v.Roles, Accounts: v.Accounts}
	tokens, err := s.tokensView(r, v, form)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	tokens.NewToken, tokens.NewTokenName = newToken, newName
	d.APITokens = tokens
	for i, c := range s.clusters {
		a := templates.SlurmAccess{Cluster: c.Name}
		if len(s.clusters) == 1 {
			a.Cluster = ""
		}
		cred, ok := s.clusterCredential(r, i)
		switch {
		case !ok || c.Slurm == nil:
			a.State = "unconfigured"
		default:
			a.TokenExpires = cred.Token.Expires.UTC().Format("15:04 UTC")
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			n, err := c.Slurm.CheckAccess(ctx, cred, c.APIVersion, time.Now())
			cancel()
			switch {
			case err == nil:
				a.State, a.RecentJobs = "ok", n
			case errors.Is(err, slurm.ErrAuth):
				a.State = "expired"
				s.log.Warn("slurm refused the session token", "cluster", c.Name, "user", v.SlurmUser)
			default:
				a.State, a.Message = "error", "slurmrestd did not answer as expected."
				s.log.Error("slurm access check failed", "cluster", c.Name, "user", v.SlurmUser, "err", err)
			}
		}
		d.Slurm = append(d.Slurm, a)
	}
	s.render(w, r, status, templates.Me(s.page(r, "Your account"), d))
}

// finance is the finance team's start page: the periods with their exports.
func (s *Server) finance(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ps, err := s.billing.PeriodSummaries(r.Context(), nil, s.rounding)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	h, err := s.billing.History(r.Context(), 12)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pol := s.policy(r.Context())
	f := figures{pol}
	s.render(w, r, http.StatusOK, templates.Finance(s.pageWith(r, "Finance", pol), f.periodRows(ps, s.currency(r)), f.history(h)))
}

const auditPageSize = 50

func (s *Server) audit(w http.ResponseWriter, r *http.Request, v *Viewer) {
	page, err := pageNumber(r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	// Sign-in events and admin or finance actions, one timeline.
	events, err := s.events.Timeline(r.Context(), auditPageSize+1, (page-1)*auditPageSize)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	out := make([]templates.AuditRow, 0, len(events))
	for _, e := range events {
		out = append(out, templates.AuditRow{At: templates.TimestampSeconds(e.At), Username: e.Username, Action: e.Action,
			Address: e.Address, Detail: e.Detail})
	}
	pg := templates.Pager{Page: page, HasPrev: page > 1, Base: "/admin/audit"}
	if len(out) > auditPageSize {
		out, pg.HasNext = out[:auditPageSize], true
	}
	s.render(w, r, http.StatusOK, templates.Audit(s.page(r, "Audit log"), out, pg))
}
