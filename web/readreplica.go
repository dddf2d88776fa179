package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tally-hpc/tally/internal/replica"
)

// lastWriteKey holds, in the session, when the person's last change was
// answered (Unix milliseconds): their pages read the primary until the
// replica has it, so they always see what they just did.
const lastWriteKey = "last_write_ms"

type replicaLagKey struct{}

// routeReads lets GET pages read from the replica (TALLY_DATABASE_READ_URL)
// unless it lags too far, is away, or lacks the person's own last change.
// Stores that only read (reports, exports) then take their queries there
// (replica.Pool); everything else keeps the primary.
func (s *Server) routeReads(next http.Handler) http.Handler {
	if s.reads == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Mark the time as the answer starts: the handler's
			// transaction has committed by then, and the session is
			// saved after this (scs writes it with the first byte).
			next.ServeHTTP(&writeMarker{ResponseWriter: w, mark: func() {
				s.sessions.Put(r.Context(), lastWriteKey, time.Now().UnixMilli())
			}}, r)
			return
		}
		var notBefore time.Time
		if ms := s.sessions.GetInt64(r.Context(), lastWriteKey); ms > 0 {
			notBefore = time.UnixMilli(ms)
		}
		if ctx, lag, ok := s.reads.Reading(r.Context(), notBefore); ok {
			r = r.WithContext(context.WithValue(ctx, replicaLagKey{}, lag))
		}
		next.ServeHTTP(w, r)
	})
}

// replicaNotice is the line a page read from a lagging replica shows.
func (s *Server) replicaNotice(r *http.Request) string {
	lag, ok := r.Context().Value(replicaLagKey{}).(time.Duration)
	if !ok || !replica.FromReplica(r.Context()) || lag < s.cfg.ReadLagNotice || lag < time.Second {
		return ""
	}
	return fmt.Sprintf("Job lists, receipts and usage on this page are read from a copy of the database that is %s behind: "+
		"jobs and charges from the last %s are not shown yet.", roundLag(lag), roundLag(lag))
}

func roundLag(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// writeMarker calls mark once, before the first header or byte goes out.
type writeMarker struct {
	http.ResponseWriter
	mark   func()
	marked bool
}

func (m *writeMarker) once() {
	if !m.marked {
		m.marked = true
		m.mark()
	}
}

func (m *writeMarker) WriteHeader(code int) { m.once(); m.ResponseWriter.WriteHeader(code) }

func (m *writeMarker) Write(b []byte) (int, error) { m.once(); return m.ResponseWriter.Write(b) }

// Unwrap lets http.ResponseController reach the writer underneath.
func (m *writeMarker) Unwrap() http.ResponseWriter { return m.ResponseWriter }
