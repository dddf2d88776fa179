package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/templates"
)

// IngestControl is what the web layer may ask of ingest.
type IngestControl interface {
	// Trigger queues a run now; false if one is already queued.
	Trigger(why string) bool
	// RefreshUser re-reads a person's recent records with their own token.
	RefreshUser(ctx context.Context, cred slurm.Credential, days int) error
}

const ingestPageSize = 50

func (s *Server) ingestPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	st := templates.IngestStatus{Enabled: s.ingest != nil, Pager: templates.Pager{Page: page, HasPrev: page > 1, Base: "/admin/ingest"}}

	lastGood, err := jobstore.LastGoodWindow(ctx, s.pool)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if lastGood != nil {
		st.LastGood = lastGood.UTC().Format("2006-01-02 15:04 UTC")
		st.Lag = humanDuration(time.Since(*lastGood))
	}
	var errAt time.Time
	var errMsg string
	err = s.pool.QueryRow(ctx, `SELECT started_at, error FROM ingest_runs WHERE error <> '' ORDER BY id DESC LIMIT 1`).Scan(&errAt, &errMsg)
	if err == nil {
		st.LastError, st.LastErrorAt = errMsg, errAt.UTC().Format("2006-01-02 15:04 UTC")
	}

	rows, err := s.pool.Query(ctx, `SELECT started_at, window_start, window_end, source, fallback_reason, trigger,
		jobs_new, jobs_changed, jobs_unchanged, jobs_rejected, finished_at - started_at, error
		FROM ingest_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, ingestPageSize+1, (page-1)*ingestPageSize)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for rows.Next() {
		var run templates.IngestRun
		var started, ws, we time.Time
		var took time.Duration
		if err := rows.Scan(&started, &ws, &we, &run.Source, &run.Fallback, &run.Trigger, &run.New, &run.Changed,
			&run.Unchanged, &run.Rejected, &took, &run.Error); err != nil {
			rows.Close()
			s.serverError(w, r, err)
			return
		}
		run.Started = started.UTC().Format("2006-01-02 15:04:05")
		run.Window = ws.UTC().Format("01-02 15:04") + " → " + we.UTC().Format("01-02 15:04")
		run.Took = took.Round(time.Millisecond).String()
		st.Runs = append(st.Runs, run)
	}
	rows.Close()
	if len(st.Runs) > ingestPageSize {
		st.Runs, st.Pager.HasNext = st.Runs[:ingestPageSize], true
	}

	rows, err = s.pool.Query(ctx, `SELECT run_id, line_no, error, left(raw, 300) FROM ingest_rejects ORDER BY id DESC LIMIT 50`)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for rows.Next() {
		var rj templates.IngestReject
		if err := rows.Scan(&rj.RunID, &rj.Line, &rj.Error, &rj.Raw); err != nil {
			rows.Close()
			s.serverError(w, r, err)
			return
		}
		// The unit separator Tally asks sacct for is invisible; show it.
		rj.Raw = strings.ReplaceAll(rj.Raw, slurm.SacctDelimiter, " ␟ ")
		st.Rejects = append(st.Rejects, rj)
	}
	rows.Close()
	s.render(w, r, http.StatusOK, templates.Ingest(s.page(r, "Ingest"), st))
}

func (s *Server) ingestNow(w http.ResponseWriter, r *http.Request, v *Viewer) {
	switch {
	case s.ingest == nil:
		s.flash(r, "error", "Ingest is not configured on this Tally.")
	case s.ingest.Trigger("manual"):
		s.flash(r, "success", "Ingest started. Reload this page in a moment to see the run.")
		s.log.Info("ingest requested", "by", v.User)
		s.recordAdmin(r, v, "ingest_requested", "")
	default:
		s.flash(r, "info", "An ingest is already queued.")
	}
	http.Redirect(w, r, "/admin/ingest", http.StatusSeeOther)
}

// humanDuration says 3 minutes, 2 hours, 5 days.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
