package jobstore

import (
	"context"
	"time"

	"github.com/tally-hpc/tally/internal/pgstats"
)

// AnalyzeJobs refreshes the planner's statistics of the job partitions
// changed enough since their last analysis (pgstats.AnalyzeStale's rule).
func (s *Store) AnalyzeJobs(ctx context.Context) error {
	_, err := pgstats.AnalyzeStale(ctx, s.pool, "jobs")
	return err
}

// AnalysisPacer decides, for a run of several windows, which windows
// refresh the statistics of the partitions they wrote. Each ANALYZE reads a
// sample of the growing month (about half a second at 10^6 rows), so one per
// window cost a back-fill of ten 100,000-record windows 5.6 s of 32 s. The
// pages still need fresh statistics during a long run, so a window analyses
// when Every has passed since the run's last analysis, and the run's last
// window always does; Finish covers a run that ends early.
type AnalysisPacer struct {
	Every time.Duration
	last  time.Time
	owed  bool
}

// NewAnalysisPacer starts pacing a run now.
func NewAnalysisPacer(every time.Duration) *AnalysisPacer {
	return &AnalysisPacer{Every: every, last: time.Now()}
}

// Defer reports whether the window about to commit should leave its
// analysis for later; last says it is the run's final window.
func (p *AnalysisPacer) Defer(last bool) bool {
	if last || time.Since(p.last) >= p.Every {
		p.last, p.owed = time.Now(), false
		return false
	}
	p.owed = true
	return true
}

// Finish analyses what deferred windows left, when a run ends before its
// last window (an error or a shutdown after committed windows).
func (p *AnalysisPacer) Finish(ctx context.Context, s *Store) error {
	if !p.owed {
		return nil
	}
	p.owed = false
	return s.AnalyzeJobs(ctx)
}
