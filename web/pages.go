package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
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
	accts, err := jobstore.UserAccounts(r.Context(), s.pool, v.SlurmUser)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, a := range accts {
		if len(s.clusters) == 1 {
			a.Cluster = ""
		}
		d.Charges = append(d.Charges, templates.MeAccount{Cluster: a.Cluster, Account: a.Account, Default: a.Default, JobsOnly: a.JobsOnly,
			Coordinated: v.Coordinates(a.Account)})
	}
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
		if a.Ingest, err = s.ingestSummary(r.Context(), c); err != nil {
			s.serverError(w, r, err)
			return
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

// ingestSummary says in words how a cluster's records reach Tally: the
// configured source, how often, and how far the records are complete
// (clusterIngest, as the ingest page says it).
func (s *Server) ingestSummary(ctx context.Context, c *clusterState) (templates.IngestSummary, error) {
	var sum templates.IngestSummary
	if c.Ingest == nil {
		sum.How = "Tally does not read this cluster's job records itself here; they arrive only through an ingest run elsewhere (tally ingest)."
	} else {
		src, every := c.Ingest.Source()
		sum.How = ingestSourceWords(src, every)
	}
	ci, err := s.clusterIngest(ctx, c.Name)
	if err != nil {
		return sum, err
	}
	sum.LastGood, sum.Lag = ci.LastGood, ci.Lag
	if ci.Fallback != "" {
		// Why slurmrestd failed is for admins (/admin/ingest): it can
		// name hosts and errors.
		sum.Fallback = "Lately slurmrestd has not served these records, so they were read with sacct instead."
	}
	return sum, nil
}

// ingestSourceWords is the configured source in a sentence.
func ingestSourceWords(source string, every time.Duration) string {
	var from string
	switch source {
	case "rest":
		from = "from slurmrestd (Slurm's REST API)"
	case "sacct":
		from = "with Slurm's sacct command"
	default:
		from = "from slurmrestd (Slurm's REST API), and with sacct whenever slurmrestd fails"
	}
	when := "when an admin asks (Ingest now) and once at start-up"
	if every > 0 {
		when = "every " + every.String()
	}
	return "Tally reads every job record of this cluster " + from + ", as its own service identity, " + when + "."
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
