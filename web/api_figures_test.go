package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// shown is an API amount as a page prints it ("12.35 USD").
func shown(m apiMoney) string { return strings.TrimSpace(m.Amount + " " + m.Currency) }

// The API and the pages give the same figures for the same person: a
// period's statements and total, the accounts list, one account, the
// job list's totals, a receipt, a person's statements, and the jobs
// themselves against the jobs CSV, for a coordinator and an admin.
func TestAPIFiguresMatchThePages(t *testing.T) {
	e := newAuthServer(t, "", nil)
	_, period := seedWithPeriod(t, e)
	// Jobs of fractions of a cent, so that rounding has work to do.
	addManyJobs(t, e, "tally-t-alice", "physics", 20_000, 37)
	addManyJobs(t, e, "tally-t-fin", "chem", 30_000, 11)
	if _, err := billingpg.New(e.srv.pool).RateOpen(context.Background(), billingpg.RateOptions{}); err != nil {
		t.Fatal(err)
	}
	text := func(s *goquery.Selection) string { return strings.TrimSpace(s.First().Text()) }

	for _, user := range []string{"tally-t-coord", "tally-t-admin"} {
		t.Run(user, func(t *testing.T) {
			b := newBrowser(t, e)
			b.login(user, pamUsers[user], "/")
			token, _ := makeToken(t, b, "figures")
			get := func(path string, out any) {
				t.Helper()
				resp, body := apiGet(t, e, path, token)
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
				}
				decode(t, body, out)
			}
			page := func(path string) *goquery.Document {
				t.Helper()
				resp, body := b.get(path)
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d", path, resp.StatusCode)
				}
				return parseHTML(t, body)
			}
			same := func(what, api, pg string) {
				t.Helper()
				if api != pg || api == "" {
					t.Errorf("%s: the API says %q, the page %q", what, api, pg)
				}
			}

			// A period's statements and total.
			var ps apiPeriodStatements
			get("/api/v1/periods/"+period, &ps)
			doc := page("/periods/" + period)
			same("period total", shown(ps.Total), text(doc.Find(`[data-testid=period-total]`)))
			same("period jobs", fmt.Sprint(ps.Jobs), text(doc.Find(`[data-testid=period-jobs]`)))
			if len(ps.Statements) == 0 {
				t.Fatal("no statements to compare")
			}
			for _, st := range ps.Statements {
				same("statement "+st.Account, shown(st.Total), text(doc.Find(`[data-testid=statement-total][data-account="`+st.Account+`"]`)))
			}

			// The accounts list, and each account's page.
			var al apiAccountList
			get("/api/v1/accounts", &al)
			doc = page("/accounts")
			for _, a := range al.Accounts {
				row := doc.Find(`tr[data-key="` + a.Account + `"]`)
				same("accounts: "+a.Account, shown(a.Total), text(row.Find(`[data-testid=total]`)))
				same("accounts: "+a.Account+" exact", a.Total.Exact, row.Find(`[data-testid=total]`).AttrOr("data-value", ""))
				var acct apiAccount
				get("/api/v1/accounts/"+a.Account, &acct)
				adoc := page("/accounts/" + a.Account)
				same("account "+a.Account, shown(acct.Usage.Total), text(adoc.Find(`[data-testid=account-charges] [data-testid=total]`)))
				same("account "+a.Account+" against the list", shown(acct.Usage.Total), shown(a.Total))
				for _, u := range acct.Users {
					same("account "+a.Account+" user "+u.Key, u.Total.Exact, adoc.Find(`tr[data-key="`+u.Key+`"] [data-testid=total]`).AttrOr("data-value", ""))
				}
			}

			// The job list's totals, and its jobs against the jobs CSV.
			for _, q := range []string{"", "?account=physics", "?q=sweep", "?user=tally-t-alice"} {
				var tot apiJobTotals
				get("/api/v1/jobs/totals"+q, &tot)
				totals := page("/jobs" + q).Find(`[data-testid=jobs-totals]`)
				same("job totals"+q, tot.Total.Exact, totals.Find("strong").AttrOr("data-value", ""))
				same("job totals shown"+q, shown(tot.Total), text(totals.Find("strong")))
				if !strings.Contains(totals.Text(), fmt.Sprintf("All %d matching jobs", tot.Jobs)) {
					t.Errorf("job totals%s: the API counts %d, the page says %q", q, tot.Jobs, totals.Text())
				}

				var jobs []apiJob
				for next := "/api/v1/jobs?limit=7&sort=job&dir=asc" + strings.Replace(q, "?", "&", 1); ; {
					var l apiJobList
					get(next, &l)
					jobs = append(jobs, l.Jobs...)
					if l.NextCursor == "" {
						break
					}
					next = "/api/v1/jobs?limit=7&sort=job&dir=asc&after=" + l.NextCursor + strings.Replace(q, "?", "&", 1)
				}
				_, body := b.get("/jobs.csv?sort=job&dir=asc" + strings.Replace(q, "?", "&", 1))
				records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if len(records)-1 != len(jobs) || int64(len(jobs)) != tot.Jobs {
					t.Fatalf("jobs%s: the API pages hold %d jobs, the CSV %d, the totals %d", q, len(jobs), len(records)-1, tot.Jobs)
				}
				for i, j := range jobs {
					rec, total := records[i+1], ""
					if j.Total != nil {
						total = j.Total.Exact
					}
					api := []string{j.Cluster, fmt.Sprint(j.JobID), j.User, j.Account, j.Partition, j.State, fmt.Sprint(j.ElapsedSeconds), fmt.Sprint(j.CPUs), total}
					csvRow := []string{rec[0], rec[1], rec[5], rec[6], rec[7], rec[9], rec[13], rec[14], rec[18]}
					same(fmt.Sprintf("job %d%s", j.JobID, q), strings.Join(api, ","), strings.Join(csvRow, ","))
				}
			}

			// A receipt.
			var l apiJobList
			get("/api/v1/jobs?account=physics&limit=1", &l)
			var rc apiReceipt
			get(fmt.Sprintf("/api/v1/jobs/%d", l.Jobs[0].ID), &rc)
			_, rbody := b.get(fmt.Sprintf("/jobs/%d", l.Jobs[0].ID))
			if len(rc.Charges) == 0 || !strings.Contains(rbody, ">"+shown(rc.Charges[0].Total)+"<") {
				t.Errorf("receipt: the API's total %v is not on the page", rc.Charges)
			}
			for _, line := range rc.Charges[0].Lines {
				if !strings.Contains(rbody, line.Amount.Amount) {
					t.Errorf("receipt line %s: %s is not on the page", line.Component, line.Amount.Amount)
				}
			}

			// The person's own statements.
			var mine apiPeriodList
			get("/api/v1/statements", &mine)
			sdoc := page("/statements")
			for _, p := range mine.Periods {
				same("statements "+p.Name, shown(p.Total), text(sdoc.Find(`tr[data-period="`+p.Name+`"] [data-testid=total]`)))
			}
		})
	}
}

// The job list's cursors walk every job once, forwards and back, and the
// pages going back are the pages going forwards.
func TestAPIJobsPageBothWays(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	addManyJobs(t, e, "tally-t-alice", "physics", 40_000, 25)
	b := newBrowser(t, e)
	b.login("tally-t-alice", pamUsers["tally-t-alice"], "/")
	token, _ := makeToken(t, b, "pager")
	page := func(q string) apiJobList {
		t.Helper()
		resp, body := apiGet(t, e, "/api/v1/jobs?q=sweep&limit=10"+q, token)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
		var l apiJobList
		decode(t, body, &l)
		return l
	}
	ids := func(l apiJobList) string {
		var out []string
		for _, j := range l.Jobs {
			out = append(out, fmt.Sprint(j.JobID))
		}
		return strings.Join(out, ",")
	}
	var forward []apiJobList
	for l := page(""); ; l = page("&after=" + l.NextCursor) {
		forward = append(forward, l)
		if l.NextCursor == "" {
			break
		}
	}
	if len(forward) != 3 || len(forward[2].Jobs) != 5 || forward[0].PrevCursor != "" {
		t.Fatalf("forwards: %d pages", len(forward))
	}
	seen := map[int64]bool{}
	for _, l := range forward {
		for _, j := range l.Jobs {
			if seen[j.JobID] {
				t.Fatalf("job %d twice", j.JobID)
			}
			seen[j.JobID] = true
		}
	}
	if len(seen) != 25 {
		t.Fatalf("%d jobs seen, want 25", len(seen))
	}
	back := page("&before=" + forward[2].PrevCursor)
	if ids(back) != ids(forward[1]) {
		t.Errorf("back from the last page: %s, want %s", ids(back), ids(forward[1]))
	}
	if first := page("&before=" + back.PrevCursor); ids(first) != ids(forward[0]) || first.PrevCursor != "" {
		t.Errorf("back to the first page: %s (prev %q), want %s", ids(first), first.PrevCursor, ids(forward[0]))
	}
}
