package web

import (
	"html"
	"net/url"
	"strings"
	"testing"
)

// Issue 22.7: a partition billed by the CPU time used is estimated from
// the CPU use the person expects (by default every CPU busy throughout),
// not as 0.00; the result comes above the form, which links the prices.
func TestEstimateCPUTimePartitionPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string // the total, or the refusal
	}{
		{"full use by default", url.Values{}, "0.30 USD"},
		{"efficiency 50 %", url.Values{"cpu_efficiency": {"50"}}, "0.15 USD"},
		{"CPU time given", url.Values{"cpu_time": {"02:00:00"}}, "0.06 USD"},
		{"CPU time wins", url.Values{"cpu_time": {"02:00:00"}, "cpu_efficiency": {"50"}}, "0.06 USD"},
		{"efficiency past 100", url.Values{"cpu_efficiency": {"150"}}, "CPU efficiency"},
		{"zero CPU time", url.Values{"cpu_time": {"0"}}, "give more than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"partition": {"usage"}, "cpus": {"4"}, "time": {"02:30:00"}, "qos": {"normal"}}
			for k, v := range tc.query {
				q[k] = v
			}
			resp, body := b.get("/estimate?" + q.Encode())
			body = html.UnescapeString(body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(body, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, body)
			}
			if !strings.Contains(body, `href="/prices"`) {
				t.Error("the estimate does not link the price list")
			}
			res, form := strings.Index(body, `data-testid="estimate-result"`), strings.Index(body, `action="/estimate"`)
			if strings.HasSuffix(tc.want, "USD") && (res < 0 || res > form) {
				t.Errorf("the result (at %d) is not above the form (at %d)", res, form)
			}
		})
	}
}

// Issue 22.7: every signed-in person can read the prices in force, per
// partition in words and as a table, with no account's own prices.
func TestPricesPage(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	resp, body := b.get("/prices")
	body = html.UnescapeString(body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		"Rate card <strong>standard v2</strong>",
		"<strong>cpu</strong>: Charges 0.03 USD per core-hour, 0.005 USD per GiB-hour of memory, for what the job asked for",
		"<strong>usage</strong>: Charges 0.03 USD per CPU-hour the job actually used",
		"<strong>bigmem</strong>: Charges the largest one of",
		"a100 2.50", "Charges at least 0.05 USD per job", "standby ×0.5",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the price list lacks %q", want)
		}
	}
	if strings.Contains(body, "departmental subsidy") {
		t.Error("the price list shows one account's discount")
	}
}
