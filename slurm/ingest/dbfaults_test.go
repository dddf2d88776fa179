package ingest

import (
	"context"
	"testing"
)

// A statement timeout in the middle of a window (an administrator's
// setting, or a database under load) fails that window as a whole: no job
// of it is kept, and the next run stores it completely.
func TestStatementTimeoutFailsTheWindowWhole(t *testing.T) {
	srv := fakeRestd(t, serveJSON(200, fixture(t, "slurmdb-v0.0.38-jobs.json")))
	in, store := restIngester(t, srv.URL, &fakeCreds{}, 0)
	ctx := context.Background()
	pool := store.Pool()
	var db string
	pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
	// The merge is the window's longest statement; a 1 ms limit stops it.
	if _, err := pool.Exec(ctx, `ALTER DATABASE "`+db+`" SET statement_timeout = '1ms'`); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	_, err := in.Run(ctx, window[0], window[1], Options{Trigger: "test"})
	pool.Exec(ctx, `ALTER DATABASE "`+db+`" RESET statement_timeout`)
	pool.Reset()
	if err == nil {
		t.Fatal("a window under a 1 ms statement timeout claims success")
	}
	if n := countJobs(t, store); n != 0 {
		t.Fatalf("%d jobs kept from a failed window", n)
	}
	sum, err := in.Run(ctx, window[0], window[1], Options{Trigger: "test"})
	if err != nil || sum.Counts.New != 15 || countJobs(t, store) != 15 {
		t.Fatalf("second run: %+v %v, %d jobs", sum.Counts, err, countJobs(t, store))
	}
}
