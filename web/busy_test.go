package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// With every database connection taken, a page answers "busy" (503 with
// Retry-After) once its deadline passes, instead of hanging; when
// connections free up, pages work again.
func TestPoolExhaustedGivesBusyPage(t *testing.T) {
	var small *pgxpool.Pool
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.PageTimeout = 500 * time.Millisecond
		resizePool(t, d, 2)
		small = d.Pool
	})
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	ctx := context.Background()
	var held []*pgxpool.Conn
	for range 2 {
		c, err := small.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	began := time.Now()
	resp, body := b.get("/jobs")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Tally is busy") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("with the pool exhausted: %d after %s retry=%q\n%s", resp.StatusCode, time.Since(began), resp.Header.Get("Retry-After"), body)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("busy page took %s", took)
	}
	for _, c := range held {
		c.Release()
	}
	if resp, _ := b.get("/jobs"); resp.StatusCode != 200 {
		t.Errorf("after connections came back: %d", resp.StatusCode)
	}
}

// A statement timeout set by the database's administrator surfaces as the
// same busy page, never as a half-done change.
func TestStatementTimeoutGivesBusyPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-admin", pamUsers["tally-t-admin"], "/")
	ctx := context.Background()
	pool := e.srv.pool
	var db string
	pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
	if _, err := pool.Exec(ctx, `ALTER DATABASE "`+db+`" SET statement_timeout = '1ms'`); err != nil {
		t.Fatal(err)
	}
	pool.Reset() // new connections pick the setting up
	// Sleep in SQL so even a tiny query overruns.
	if _, err := pool.Exec(ctx, `ALTER DATABASE "`+db+`" SET lock_timeout = '1ms'`); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	resp, body := b.get("/jobs?q=relax")
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusOK {
		t.Errorf("under a 1 ms statement timeout: %d\n%.300s", resp.StatusCode, body)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && !strings.Contains(body, "Nothing was changed") {
		t.Errorf("busy page without its message:\n%.300s", body)
	}
	pool.Exec(ctx, `ALTER DATABASE "`+db+`" RESET statement_timeout`)
	pool.Exec(ctx, `ALTER DATABASE "`+db+`" RESET lock_timeout`)
	pool.Reset()
	if resp, _ := b.get("/jobs"); resp.StatusCode != 200 {
		t.Errorf("after the timeout was lifted: %d", resp.StatusCode)
	}
}

// Exports take turns (ExportsAtOnce): while one runs, pages are served at
// once, and an export whose turn does not come within PageTimeout gets the
// busy page; when the running one ends, exports work again.
func TestExportsTakeTurns(t *testing.T) {
	e := newAuthServer(t, "", func(c *Config, d *Deps) {
		c.PageTimeout = 300 * time.Millisecond
		c.ExportsAtOnce = 1
	})
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	e.srv.exportSlots <- struct{}{} // an export running
	if resp, _ := b.get("/jobs"); resp.StatusCode != http.StatusOK {
		t.Errorf("a page while an export runs: %d", resp.StatusCode)
	}
	began := time.Now()
	resp, body := b.get("/jobs.csv")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "try again in a minute") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("an export waiting past its turn: %d retry=%q\n%.300s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if took := time.Since(began); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("the busy answer came after %s, want about PageTimeout", took)
	}
	<-e.srv.exportSlots // it ends
	if resp, body := b.get("/jobs.csv"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "cluster,job_id") {
		t.Errorf("an export after its turn came: %d\n%.200s", resp.StatusCode, body)
	}
	if n := len(e.srv.exportSlots); n != 0 {
		t.Errorf("%d export turns still taken after the exports ended", n)
	}
}
