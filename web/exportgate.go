package web

import (
	"net/http"
	"runtime"
	"time"
)

// exportsAtOnce is how many CSV or PDF exports run together when the
// configuration does not say: half the cores, at least one.
func exportsAtOnce(configured int) int {
	if configured > 0 {
		return configured
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// exportGate lets only ExportsAtOnce exports run together; the others wait
// their turn. An export reads and writes thousands of rows as fast as both
// cores allow, and several at once took the CPU from every page in the
// soak (a dashboard that answers in 8 ms waited 120 ms behind them); one at
// a time leaves the other cores to the pages. A turn not come within
// PageTimeout gets the busy page: the person tries again, nothing is lost.
func (s *Server) exportGate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isExport(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		var expired <-chan time.Time
		if s.cfg.PageTimeout > 0 {
			t := time.NewTimer(s.cfg.PageTimeout)
			defer t.Stop()
			expired = t.C
		}
		select {
		case s.exportSlots <- struct{}{}:
			defer func() { <-s.exportSlots }()
			h.ServeHTTP(w, r)
		case <-expired:
			s.exportsBusy(w, r)
		case <-r.Context().Done():
			s.exportsBusy(w, r)
		}
	})
}

func (s *Server) exportsBusy(w http.ResponseWriter, r *http.Request) {
	s.unavailable(w, r, nil, "exports busy", "Tally is busy",
		"Other downloads are being prepared just now, and yours waited too long for its turn. Nothing was changed; try again in a minute.")
}
