package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/slurm"
)

// Item 14: no text cell of any export reads as a formula, however it is
// dressed (leading blanks, a line break, an invisible character, a
// fullwidth sign), amounts stay numbers, and no export or PDF may be
// cached.
func TestAbuse14ExportsGuardEveryCellAndAreNotCached(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows := seedBilling(t, e)
	ctx := context.Background()
	pool := e.srv.pool
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	job := func(id int64, account, qos, state, name string) slurm.Job {
		return slurm.Job{Cluster: "testbed", JobID: id, Submit: end.Add(-2 * time.Hour), Start: end.Add(-time.Hour), End: end,
			User: "tally-t-alice", Account: account, Partition: "cpu", QOS: qos, State: state, Name: name, ElapsedSeconds: 3600,
			Requested: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}, Allocated: slurm.TRES{CPU: 1, MemMiB: 1024, Nodes: 1}}
	}
	storeJobs(t, e, end.Add(-time.Hour), end,
		job(301, "\n=1+1", "\u3000-2+3", "COMPLETED", ` =HYPERLINK("http://x")`),
		job(302, "physics", "normal", "@SUM(A1)", "\ufeff＝1+1"), // a state Slurm never prints: the column is guarded anyway
	)
	store := billingpg.New(pool)
	cur := end.Format("2006-01")
	store.EnsureMonths(ctx, time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC), end.AddDate(0, 1, 0))
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddAdjustment(ctx, billingpg.Adjustment{Period: cur, Account: "physics", Amount: -1_500_000,
		Reason: "\u200b=1+1", Author: "test"}); err != nil {
		t.Fatal(err)
	}

	a := newBrowser(t, e)
	a.login("tally-t-admin", "tally-admin-pw", "/")
	number := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	formula := func(s string) bool {
		if strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\r") {
			return true
		}
		s = strings.TrimLeftFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf)
		})
		return s != "" && strings.ContainsRune("=+-@＝＋－＠", []rune(s)[0])
	}
	seen := map[string]bool{}
	for _, path := range []string{"/jobs.csv", "/periods/" + cur + "/accounts.csv", "/periods/" + cur + "/jobs.csv",
		"/periods/" + cur + "/adjustments.csv", "/finance/" + cur + "/accounts.csv", "/finance/" + cur + "/jobs.csv",
		"/finance/" + cur + "/adjustments.csv"} {
		resp, body := a.get(path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
			continue
		}
		if cc := resp.Header.Values("Cache-Control"); !slices.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", path, cc)
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, rec := range recs[1:] {
			for i, cell := range rec {
				seen[cell] = true
				if formula(cell) && !number.MatchString(cell) {
					t.Errorf("%s: column %s reads as a formula: %q", path, recs[0][i], cell)
				}
			}
		}
	}
	for _, want := range []string{"'\n=1+1", "'\u3000-2+3", `' =HYPERLINK("http://x")`, "'@SUM(A1)", "'\ufeff＝1+1", "'\u200b=1+1", "-1.500000"} {
		if !seen[want] {
			t.Errorf("no export has the cell %q", want)
		}
	}
	for _, path := range []string{fmt.Sprintf("/jobs/%d/receipt.pdf", rows[101]), "/periods/" + cur + "/statement.pdf?account=physics",
		"/statements/" + cur + "/tally-t-alice.pdf"} {
		resp, _ := a.get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cc := resp.Header.Values("Cache-Control"); !slices.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", path, cc)
		}
	}
}
