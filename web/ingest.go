package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
	"github.com/tally-hpc/tally/templates"
)

// IngestControl is what the web layer may ask of ingest.
type IngestControl interface {
	// Trigger queues a run now; false if one is already queued.
	Trigger(why string) bool
	// RefreshUser re-reads a person's recent records with their own token.
	RefreshUser(ctx context.Context, cred slurm.Credential, days int) error
	// Source is the configured source (auto, rest or sacct) and how often
	// scheduled ingest reads it (0: only when asked).
	Source() (source string, every time.Duration)
}

const ingestPageSize = 50

// ingestScheduled is an IngestControl that can tell its plan (the
// ingest.Scheduler can; a control that cannot shows no schedule).
type ingestScheduled interface{ Status() ingest.Status }

func (s *Server) ingestPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	page, err := pageNumber(r)
	if err != nil {
		s.badInput(w, r, err)
		return
	}
	st, err := s.ingestStatus(r.Context(), page)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.Ingest(s.page(r, "Ingest"), st))
}

// ingestLive is the part of the ingest page that changes while a run
// goes on (the schedule and the newest runs), for the page's script to
// poll after "Ingest now".
func (s *Server) ingestLive(w http.ResponseWriter, r *http.Request, v *Viewer) {
	st, err := s.ingestStatus(r.Context(), 1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.IngestLive(st))
}

// ingestSchedule is each cluster's plan: how often, when next, and
// whether a run is going on or waiting.
func (s *Server) ingestSchedule(now time.Time) (rows []templates.IngestSchedule, busy bool) {
	for _, c := range s.clusters {
		sc, ok := c.Ingest.(ingestScheduled)
		if !ok {
			continue
		}
		st := sc.Status()
		row := templates.IngestSchedule{Cluster: c.Name, Every: "on demand only", Next: "none scheduled", State: "idle"}
		if row.Cluster == "" {
			row.Cluster = "this cluster"
		}
		if st.Interval > 0 {
			// 15m, 1h, 1h30m: Go's duration without its zero tails.
			every := st.Interval.String()
			if strings.HasSuffix(every, "m0s") {
				every = strings.TrimSuffix(every, "0s")
			}
			if strings.HasSuffix(every, "h0m") {
				every = strings.TrimSuffix(every, "0m")
			}
			row.Every = "every " + every
		}
		if !st.Next.IsZero() {
			row.Next = templates.TimestampSeconds(st.Next)
			if d := st.Next.Sub(now); d > 0 {
				row.Next += " (in " + humanDuration(d) + ")"
			}
		}
		switch {
		case !st.Running.IsZero():
			row.State, row.Busy = "running since "+st.Running.UTC().Format("15:04:05 UTC"), true
		case st.Queued:
			row.State, row.Busy = "queued: starts shortly", true
		}
		busy = busy || row.Busy
		rows = append(rows, row)
	}
	return rows, busy
}

// ingestStatus is everything the ingest page shows, its runs at page.
func (s *Server) ingestStatus(ctx context.Context, page int) (templates.IngestStatus, error) {
	st := templates.IngestStatus{Enabled: s.ingest != nil, Pager: templates.Pager{Page: page, HasPrev: page > 1, Base: "/admin/ingest"}}
	st.Schedule, st.Busy = s.ingestSchedule(time.Now())
	// The installation as a whole (every cluster: records are complete up
	// to the earliest), then, with several, each cluster.
	whole, err := s.clusterIngest(ctx, "")
	if err != nil {
		return st, err
	}
	st.LastGood, st.Lag, st.Fallback, st.LastError, st.LastErrorAt = whole.LastGood, whole.Lag, whole.Fallback, whole.LastError, whole.LastErrorAt
	if len(s.clusters) > 1 {
		for _, c := range s.clusters {
			ci, err := s.clusterIngest(ctx, c.Name)
			if err != nil {
				return st, err
			}
			ci.Enabled = c.Ingest != nil
			st.Clusters = append(st.Clusters, ci)
		}
	}
	runs, err := jobstore.RecentRuns(ctx, s.pool, ingestPageSize+1, (page-1)*ingestPageSize)
	if err != nil {
		return st, err
	}
	for _, run := range runs {
		st.Runs = append(st.Runs, templates.IngestRun{Cluster: run.Cluster, Started: templates.TimestampSeconds(run.Started),
			Window: run.WindowStart.UTC().Format("01-02 15:04") + " → " + run.WindowEnd.UTC().Format("01-02 15:04"),
			Source: run.Source, Fallback: run.Fallback, Trigger: run.Trigger, New: run.New, Changed: run.Changed,
			Unchanged: run.Unchanged, Rejected: run.Rejected, Took: run.Took.Round(time.Millisecond).String(), Error: run.Error})
	}
	if len(st.Runs) > ingestPageSize {
		st.Runs, st.Pager.HasNext = st.Runs[:ingestPageSize], true
	}
	rejects, err := jobstore.RecentRejects(ctx, s.pool, 50)
	if err != nil {
		return st, err
	}
	for _, rj := range rejects {
		// The unit separator Tally asks sacct for is invisible; show it.
		st.Rejects = append(st.Rejects, templates.IngestReject{RunID: rj.RunID, Line: rj.Line, Error: rj.Error,
			Raw: strings.ReplaceAll(rj.Raw, slurm.SacctDelimiter, " ␟ ")})
	}
	return st, nil
}

// clusterIngest is one cluster's ingest state ("": the installation's).
func (s *Server) clusterIngest(ctx context.Context, cluster string) (templates.ClusterIngest, error) {
	ci := templates.ClusterIngest{Name: cluster}
	lastGood, err := jobstore.LastGoodWindow(ctx, s.pool, cluster)
	if err != nil {
		return ci, err
	}
	if lastGood != nil {
		ci.LastGood = templates.Timestamp(*lastGood)
		ci.Lag = humanDuration(time.Since(*lastGood))
	}
	f, err := jobstore.ReadFreshness(ctx, s.pool, cluster)
	if err != nil {
		return ci, err
	}
	if f.FallbackSince > 0 {
		ci.Fallback = fmt.Sprintf("slurmrestd is not being used: the last %d ingest windows were read with sacct instead (%s).", f.FallbackSince, f.LastFallback)
	}
	at, msg, ok, err := jobstore.LastError(ctx, s.pool, cluster)
	if err != nil {
		return ci, err
	}
	if ok {
		ci.LastError, ci.LastErrorAt = msg, templates.Timestamp(at)
	}
	return ci, nil
}

func (s *Server) ingestNow(w http.ResponseWriter, r *http.Request, v *Viewer) {
	var started, queued []string
	for _, c := range s.clusters {
		if c.Ingest == nil {
			continue
		}
		if c.Ingest.Trigger("manual") {
			started = append(started, c.Name)
		} else {
			queued = append(queued, c.Name)
		}
	}
	kind, msg := "info", "An ingest is already queued."
	switch {
	case len(started) == 0 && len(queued) == 0:
		kind, msg = "error", "Ingest is not configured on this Tally."
	case len(started) > 0:
		kind, msg = "success", "Ingest started. Reload this page in a moment to see the run."
		s.log.Info("ingest requested", "by", v.User, "clusters", strings.Join(started, ","))
		s.recordAdmin(r, v, "ingest_requested", strings.Join(started, ","))
	}
	// The page's script asks for the answer itself and then follows the
	// run on /admin/ingest/live; a plain form post gets the page again.
	if r.Header.Get("X-Tally-Fetch") == "1" {
		if kind == "success" {
			msg = "Ingest started. This page follows the run."
		}
		s.writeJSON(w, r, http.StatusAccepted, map[string]string{"kind": kind, "message": msg})
		return
	}
	s.flash(r, kind, msg)
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
