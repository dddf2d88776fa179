package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/templates"
)

// me shows who the viewer is, their roles, and whether Slurm accepts the
// token Tally holds for them (a live call to slurmrestd).
func (s *Server) me(w http.ResponseWriter, r *http.Request, v *Viewer) {
	d := templates.MeData{User: v.User, SlurmUser: v.SlurmUser, Roles: v.Roles, Accounts: v.Accounts}
	cred, ok := s.slurmCredential(r)
	switch {
	case !ok || s.slurm == nil:
		d.SlurmState = "unconfigured"
	default:
		d.TokenExpires = cred.Token.Expires.UTC().Format("15:04 UTC")
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		n, err := s.slurm.CheckAccess(ctx, cred, s.auth.SlurmAPIVersion, time.Now())
		cancel()
		switch {
		case err == nil:
			d.SlurmState, d.RecentJobs = "ok", n
		case errors.Is(err, slurm.ErrAuth):
			d.SlurmState = "expired"
			s.log.Warn("slurm refused the session token", "user", v.SlurmUser)
		default:
			d.SlurmState, d.SlurmMessage = "error", "slurmrestd did not answer as expected."
			s.log.Error("slurm access check failed", "user", v.SlurmUser, "err", err)
		}
	}
	s.render(w, r, http.StatusOK, templates.Me(s.page(r, "Your account"), d))
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
	s.render(w, r, http.StatusOK, templates.Finance(s.page(r, "Finance"), ps, s.currency(r), h))
}

const auditPageSize = 50

func (s *Server) audit(w http.ResponseWriter, r *http.Request, v *Viewer) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	// Sign-in events and admin or finance actions, one timeline.
	rows, err := s.pool.Query(r.Context(), `SELECT at, username, action, address, detail FROM (
			SELECT at, id, username, action, address, detail FROM auth_events
			UNION ALL
			SELECT at, id, actor, action, '', detail FROM admin_events) e
		ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2`, auditPageSize+1, (page-1)*auditPageSize)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer rows.Close()
	var out []templates.AuditRow
	for rows.Next() {
		var a templates.AuditRow
		var at time.Time
		if err := rows.Scan(&at, &a.Username, &a.Action, &a.Address, &a.Detail); err != nil {
			s.serverError(w, r, err)
			return
		}
		a.At = at.UTC().Format("2006-01-02 15:04:05")
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		s.serverError(w, r, err)
		return
	}
	pg := templates.Pager{Page: page, HasPrev: page > 1, Base: "/admin/audit"}
	if len(out) > auditPageSize {
		out, pg.HasNext = out[:auditPageSize], true
	}
	s.render(w, r, http.StatusOK, templates.Audit(s.page(r, "Audit log"), out, pg))
}
