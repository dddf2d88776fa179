package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/slurm/jobstore"
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
	if !s.cfg.Metrics.allowed(r, s.clientIP(r)) {
		if s.cfg.Metrics.Token != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tally metrics"`)
		}
		http.Error(w, "Tally's metrics are restricted: scrape from an allowed network or with the metrics token (docs/security.md).", http.StatusForbidden)
		return
	}
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

// ingestGauges reports how fresh the ingested records are, read from the
// database so every replica says the same: alert when the last good window
// is old or failures pile up (Slurm down, a token refused, sacct failing).
// ingestGauges writes the ingest freshness figures: unlabelled for an
// installation of one cluster, with a cluster label for each of several.
func ingestGauges(pool *pgxpool.Pool, clusters []string) GaugeFunc {
	return func(w io.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		type reading struct {
			label string
			f     jobstore.Freshness
		}
		var rs []reading
		up := 1
		names := clusters
		if len(names) < 2 {
			names = []string{""}
		}
		for _, c := range names {
			f, err := jobstore.ReadFreshness(ctx, pool, c)
			if err != nil {
				up = 0
				break
			}
			label := ""
			if c != "" {
				label = "{cluster=" + quote(c) + "}"
			}
			rs = append(rs, reading{label, f})
		}
		fmt.Fprintln(w, "# HELP tally_ingest_up Whether the ingest figures below could be read.")
		fmt.Fprintln(w, "# TYPE tally_ingest_up gauge")
		fmt.Fprintf(w, "tally_ingest_up %d\n", up)
		if up == 0 {
			return
		}
		series := func(name, typ, help string, value func(jobstore.Freshness) (int64, bool)) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
			for _, r := range rs {
				if v, ok := value(r.f); ok {
					fmt.Fprintf(w, "%s%s %d\n", name, r.label, v)
				}
			}
		}
		series("tally_ingest_last_success_timestamp_seconds", "gauge", "When the last ingest window was committed.",
			func(f jobstore.Freshness) (int64, bool) {
				if f.LastSuccess == nil || f.RecordsUntil == nil {
					return 0, false
				}
				return f.LastSuccess.Unix(), true
			})
		series("tally_ingest_records_until_timestamp_seconds", "gauge", "End of the latest committed ingest window: records are complete up to here.",
			func(f jobstore.Freshness) (int64, bool) {
				if f.LastSuccess == nil || f.RecordsUntil == nil {
					return 0, false
				}
				return f.RecordsUntil.Unix(), true
			})
		series("tally_ingest_failed_windows_since_success", "gauge", "Ingest windows no source could serve since the last one committed.",
			func(f jobstore.Freshness) (int64, bool) { return int64(f.FailedSince), true })
		series("tally_ingest_fallback_windows_since_rest", "gauge", "Ingest windows read with sacct because slurmrestd failed, since slurmrestd last served one.",
			func(f jobstore.Freshness) (int64, bool) { return int64(f.FallbackSince), true })
		series("tally_ingest_rejected_records_total", "counter", "Records held back as ingest rejects.",
			func(f jobstore.Freshness) (int64, bool) { return int64(f.Rejected), true })
	}
}
