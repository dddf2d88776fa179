package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// Tally's connections run without JIT compilation unless the URL asks for
// it, and the pool is sized for pages beside ingest and rating.
func TestOpenDatabaseSettings(t *testing.T) {
	base := pgtest.NewURL(t)
	for _, tc := range []struct {
		query, jit string
		conns      int32
	}{
		{"", "off", 16},
		{"jit=on", "on", 16},
		{"pool_max_conns=3", "off", 3},
	} {
		t.Run(tc.query, func(t *testing.T) {
			url, sep := base, "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			if tc.query != "" {
				url += sep + tc.query
			}
			pool, err := openDatabase(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			var jit string
			if err := pool.QueryRow(context.Background(), `SHOW jit`).Scan(&jit); err != nil {
				t.Fatal(err)
			}
			if jit != tc.jit || pool.Config().MaxConns != tc.conns {
				t.Fatalf("jit %s, %d connections; want %s, %d", jit, pool.Config().MaxConns, tc.jit, tc.conns)
			}
		})
	}
}
