package main

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/static"
	"github.com/tally-hpc/tally/web"
)

type refuseAll struct{}

// aliceToken has the shape of a real token (tly_ and 52 base32 letters).
const aliceToken = "tly_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"

func (refuseAll) Authenticate(context.Context, string, string) error { return context.Canceled }

// tally balance through the API shows a person the budgets the pages
// show them, with the same figures as an admin's --database table.
func TestBalanceCommand(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	for _, args := range [][]string{
		{"rates", "import", "../../billing/testdata/standard.yaml"},
		{"budget", "set", "physics", "100", "2026-01", "2026-12"},
		{"budget", "set", "chem", "50", "2026-01", "2026-12"},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d %s%s", args, code, out, errOut)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO slurm_associations (cluster, account, username, is_default) VALUES ('c', 'physics', 'alice', true)`); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(aliceToken))
	if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (username, slurm_user, name, token_sha256) VALUES ('alice', 'alice', 'cli', $1)`, sum[:]); err != nil {
		t.Fatal(err)
	}
	assets, _ := static.New()
	srv, err := web.New(web.Config{Version: "test", CookieSecure: "auto", SessionIdleTimeout: 1e9, SessionLifetime: 1e9},
		web.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Pool: pool, Assets: assets, Authn: refuseAll{},
			Ready: func(ctx context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	t.Setenv("TALLY_TOKEN", aliceToken)
	code, out, errOut := runCmd(t, "balance", "--url", hs.URL)
	if code != 0 || !strings.Contains(out, "physics") || strings.Contains(out, "chem") || !strings.Contains(out, "100.00 USD") {
		t.Fatalf("alice's balance: %d\n%s%s", code, out, errOut)
	}
	code, all, errOut := runCmd(t, "balance", "--database")
	if code != 0 || !strings.Contains(all, "chem") {
		t.Fatalf("the admin's balance: %d\n%s%s", code, all, errOut)
	}
	// The physics row is the same either way.
	row := func(table string) string {
		for _, l := range strings.Split(table, "\n") {
			if strings.HasPrefix(l, "physics") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		return ""
	}
	if row(out) == "" || row(out) != row(all) {
		t.Errorf("API %q, database %q", row(out), row(all))
	}
	t.Setenv("TALLY_TOKEN", "tly_"+strings.Repeat("b", 52))
	if code, _, errOut := runCmd(t, "balance", "--url", hs.URL); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("a wrong token: %d %s", code, errOut)
	}
}
