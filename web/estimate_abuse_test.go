package web

import (
	"html"
	"net/url"
	"strings"
	"testing"
)

// Item 13: the estimate page shows why it will not price input past the
// plausibility limits or names nobody knows, instead of a price.
func TestAbuse13EstimatePageRefuses(t *testing.T) {
	e := newAuthServer(t, "", nil)
	seedBilling(t, e)
	b := newBrowser(t, e)
	b.login("tally-t-alice", "tally-alice-pw", "/")
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string // "" priced
	}{
		{"priced", url.Values{}, ""},
		{"account Slurm knows", url.Values{"account": {"physics"}}, ""},
		{"cpus=MaxInt64", url.Values{"cpus": {"9223372036854775807"}}, "CPUs: give a whole number from 1 to 500000"},
		{"memory past 2^63 MiB", url.Values{"mem": {"8796093022208T"}}, "at most 16384T"},
		{"time that wraps", url.Values{"time": {"9223372036854775807"}}, "at most 1825-00:00:00"},
		{"CPU time that wraps", url.Values{"cpu_time": {"106752-00:00:00"}}, "CPU time"},
		{"GPUs that wrap", url.Values{"gpus": {"9223372036854775807,1"}}, "at most 100000"},
		{"unknown GPU type", url.Values{"partition": {"gpu"}, "gpus": {"h100:2"}}, `GPU type "h100"`},
		{"unknown QOS", url.Values{"qos": {"premium"}}, `QOS "premium"`},
		{"unknown account", url.Values{"account": {"nosuch"}}, `account "nosuch" is unknown`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"partition": {"cpu"}, "cpus": {"4"}, "mem": {"16G"}, "time": {"02:30:00"}, "qos": {"normal"}}
			for k, v := range tc.query {
				q[k] = v
			}
			resp, body := b.get("/estimate?" + q.Encode())
			body = html.UnescapeString(body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			priced := strings.Contains(body, "Under rate card")
			if tc.want == "" {
				if !priced {
					t.Fatalf("not priced:\n%s", body)
				}
				return
			}
			if priced || !strings.Contains(body, tc.want) {
				t.Fatalf("priced %v; want the message %q", priced, tc.want)
			}
		})
	}
}
