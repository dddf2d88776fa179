package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// healthz answers as long as the process can serve HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// readyz answers 503 until the database is reachable and migrated.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	io.WriteString(w, "ready\n")
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.Write(w)
}

func poolGauges(pool *pgxpool.Pool) GaugeFunc {
	return func(w io.Writer) {
		st := pool.Stat()
		fmt.Fprintln(w, "# HELP tally_db_pool_connections Database pool connections by state.")
		fmt.Fprintln(w, "# TYPE tally_db_pool_connections gauge")
		fmt.Fprintf(w, "tally_db_pool_connections{state=\"acquired\"} %d\n", st.AcquiredConns())
		fmt.Fprintf(w, "tally_db_pool_connections{state=\"idle\"} %d\n", st.IdleConns())
		fmt.Fprintf(w, "tally_db_pool_connections{state=\"total\"} %d\n", st.TotalConns())
		fmt.Fprintln(w, "# HELP tally_db_pool_max_connections Configured maximum pool size.")
		fmt.Fprintln(w, "# TYPE tally_db_pool_max_connections gauge")
		fmt.Fprintf(w, "tally_db_pool_max_connections %d\n", st.MaxConns())
		fmt.Fprintln(w, "# HELP tally_db_pool_acquires_total Connections acquired from the pool.")
		fmt.Fprintln(w, "# TYPE tally_db_pool_acquires_total counter")
		fmt.Fprintf(w, "tally_db_pool_acquires_total %d\n", st.AcquireCount())
		fmt.Fprintln(w, "# HELP tally_db_pool_acquire_wait_seconds_total Time spent waiting for a connection.")
		fmt.Fprintln(w, "# TYPE tally_db_pool_acquire_wait_seconds_total counter")
		fmt.Fprintf(w, "tally_db_pool_acquire_wait_seconds_total %g\n", st.AcquireDuration().Seconds())
	}
}
