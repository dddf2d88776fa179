package web

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Which errors mean "the database is away for now" (503, try again) and
// which are bugs (500, logged with a reference).
func TestUnreachableClassifiesDatabaseOutages(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"cannot connect", fmt.Errorf("resolve roles: %w", &pgconn.ConnectError{}), true},
		{"restart terminated the session", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"still starting", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"connection reset", fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{"cut mid-answer", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a bug", errors.New("nil map"), false},
	} {
		if got := unreachable(c.err); got != c.want {
			t.Errorf("%s: unreachable = %v, want %v", c.name, got, c.want)
		}
	}
}
