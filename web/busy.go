package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// deadline bounds a request's database work: pages by PageTimeout,
// exports (which stream for as long as they need) by the longer
// ExportTimeout, so that no filter can keep a query running for minutes.
func (s *Server) deadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.cfg.PageTimeout
		if isExport(r.URL.Path) {
			limit = s.cfg.ExportTimeout
		}
		if limit <= 0 {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isExport says whether path is a download (CSV or PDF).
func isExport(path string) bool {
	return strings.HasSuffix(path, ".csv") || strings.HasSuffix(path, ".pdf")
}

// busy says whether err means the database was too slow or too full to
// answer (a pool with no free connection, a timed-out or cancelled
// statement, too many connections), rather than that something is wrong.
func busy(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014", // query_canceled: statement_timeout or a cancel
			"53300", // too_many_connections
			"55P03": // lock_not_available: lock_timeout
			return true
		}
	}
	return pgconn.Timeout(err)
}

// unreachable says whether err means the database could not be reached
// or went away mid-request (restarting, failing over, the network down):
// a passing condition, answered 503 like busy, not a bug.
func unreachable(err error) bool {
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01", // admin_shutdown: the server is stopping or restarting
			pgErr.Code == "57P02",               // crash_shutdown
			pgErr.Code == "57P03",               // cannot_connect_now: still starting
			strings.HasPrefix(pgErr.Code, "08"): // connection exceptions
			return true
		}
	}
	// A pooled connection the server had already closed: nothing was sent
	// ("conn closed"), which pgconn marks safe to retry.
	if pgconn.SafeToRetry(err) {
		return true
	}
	// A connection that broke mid-statement: pgconn wraps the I/O error.
	var netErr *net.OpError
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}
