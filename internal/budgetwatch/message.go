package budgetwatch

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// Payload is the JSON body of the webhook, fixed when the alert is
// recorded. Amounts are strings as the alert's email shows them (money
// rounded by the rounding policy, hours with two decimals) beside exact
// integers (micros of the currency, or unit-seconds) for machines.
type Payload struct {
	// AlertID is the same on every delivery of one alert: a receiver that
	// saw it already (a retry after a lost answer) can drop it.
	AlertID     int64  `json:"alert_id,omitempty"` // set when sent
	Kind        string `json:"kind"`               // "threshold" or "runs_out"
	Threshold   int    `json:"threshold"`          // percent, or days for runs_out
	BudgetID    int64  `json:"budget_id"`
	Account     string `json:"account"`
	User        string `json:"user,omitempty"` // a cap on one person
	Unit        string `json:"unit"`           // money, core-hours, gpu-hours, billing-hours
	Currency    string `json:"currency,omitempty"`
	Starts      string `json:"starts"` // YYYY-MM-DD
	Ends        string `json:"ends"`   // YYYY-MM-DD, exclusive
	Amount      string `json:"amount"`
	Spent       string `json:"spent"`
	Remaining   string `json:"remaining"`
	AmountExact int64  `json:"amount_exact"`
	SpentExact  int64  `json:"spent_exact"`
	UsedPercent int64  `json:"used_percent"`
	RunsOut     string `json:"runs_out,omitempty"` // RFC 3339, the forecast
	Enforced    bool   `json:"enforced"`
	CrossedAt   string `json:"crossed_at"` // RFC 3339
	URL         string `json:"url,omitempty"`
	Subject     string `json:"subject"`
}

// Drafts works out the alerts a balance calls for: one per threshold it
// has reached and, when the forecast says it runs out within the
// budget's warning days, one of kind runs_out. Which of them are new is
// the store's to decide.
func Drafts(bal billing.Balance, pol billing.Policy, baseURL string) []billingpg.AlertDraft {
	var out []billingpg.AlertDraft
	for _, t := range bal.Crossed() {
		out = append(out, draft(bal, pol, baseURL, billingpg.AlertThreshold, t))
	}
	if bal.RunsOutSoon() {
		out = append(out, draft(bal, pol, baseURL, billingpg.AlertRunsOut, bal.Budget.RunsOutDays))
	}
	return out
}

func draft(bal billing.Balance, pol billing.Policy, baseURL, kind string, threshold int) billingpg.AlertDraft {
	b := bal.Budget
	money := func(v int64) string { return pol.FormatBudgetAmount(b, v) }
	owner := b.Account
	if b.User != "" {
		owner = b.User + " in " + b.Account
	}
	link := AccountURL(baseURL, b.Account)
	var subject, lead string
	switch kind {
	case billingpg.AlertRunsOut:
		subject = fmt.Sprintf("[Tally] %s: budget runs out within %d days", owner, threshold)
		lead = fmt.Sprintf("At the rate of the last %d days, the budget of %s runs out around %s, within %d days.",
			int(billing.ForecastWindow/(24*time.Hour)), owner, bal.RunsOut.UTC().Format("2006-01-02"), threshold)
	default:
		if threshold >= 100 {
			subject = fmt.Sprintf("[Tally] %s: budget spent (%d %%)", owner, threshold)
		} else {
			subject = fmt.Sprintf("[Tally] %s: %d %% of the budget used", owner, threshold)
		}
		lead = fmt.Sprintf("The budget of %s has reached %d %% (%d %% used).", owner, threshold, bal.UsedPercent())
	}
	var body strings.Builder
	body.WriteString(lead + "\n\n")
	last := b.Ends.AddDate(0, 0, -1)
	fmt.Fprintf(&body, "Budget:     %s, %s to %s\n", money(b.Amount), b.Starts.Format("2006-01-02"), last.Format("2006-01-02"))
	fmt.Fprintf(&body, "Spent:      %s (charged %s, running jobs so far %s)\n", money(bal.Spent()), money(bal.Charged), money(bal.Accruing))
	fmt.Fprintf(&body, "Remaining:  %s\n", money(bal.Remaining()))
	if bal.RunsOut != nil {
		fmt.Fprintf(&body, "Forecast:   runs out around %s at the last %d days' rate\n", bal.RunsOut.UTC().Format("2006-01-02"),
			int(billing.ForecastWindow/(24*time.Hour)))
	}
	if b.Enforce {
		fmt.Fprintf(&body, "\nWhen the budget is spent, Slurm refuses new jobs under %s until it is topped up.\n", b.Account)
	}
	if link != "" {
		fmt.Fprintf(&body, "\nDetails: %s\n", link)
	}
	body.WriteString("\nTally sends this once, to the account's coordinators and PI.\n")

	p := Payload{Kind: kind, Threshold: threshold, BudgetID: b.ID, Account: b.Account, User: b.User, Unit: string(b.Unit),
		Currency: b.Currency, Starts: b.Starts.Format("2006-01-02"), Ends: b.Ends.Format("2006-01-02"),
		Amount: money(b.Amount), Spent: money(bal.Spent()), Remaining: money(bal.Remaining()),
		AmountExact: b.Amount, SpentExact: bal.Spent(), UsedPercent: bal.UsedPercent(), Enforced: b.Enforce,
		CrossedAt: bal.At.UTC().Format(time.RFC3339), URL: link, Subject: subject}
	if bal.RunsOut != nil {
		p.RunsOut = bal.RunsOut.UTC().Format(time.RFC3339)
	}
	js, _ := json.Marshal(p) // plain strings and numbers: cannot fail
	return billingpg.AlertDraft{Kind: kind, Threshold: threshold, Subject: subject, Body: body.String(), Payload: js}
}

// AccountURL is the account's page under the portal's base URL ("" when
// no base URL is set).
func AccountURL(baseURL, account string) string {
	if baseURL == "" {
		return ""
	}
	return strings.TrimRight(baseURL, "/") + "/accounts/" + url.PathEscape(account)
}

// unixName is what a Slurm user name looks like; a PI field holding one
// is taken as that person's user name.
var unixName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// MailRecipients makes the recipients rule: each coordinator (and, for a
// cap, the person capped) as <user>@<domain>, and the account's PI: as is
// when the PI field holds an email address, as <pi>@<domain> when it
// holds a user name, left out otherwise (a name such as "Prof. Ada
// Lovelace" is no address). Without a domain only PI addresses remain.
// Sorted, each address once.
func MailRecipients(domain string) billingpg.Recipients {
	return func(coordinators []string, pi, capped string) []string {
		seen := map[string]bool{}
		var out []string
		add := func(addr string) {
			a, err := mail.ParseAddress(addr)
			if err != nil || seen[strings.ToLower(a.Address)] {
				return
			}
			seen[strings.ToLower(a.Address)] = true
			out = append(out, a.Address)
		}
		user := func(u string) {
			if domain != "" && unixName.MatchString(u) {
				add(u + "@" + domain)
			}
		}
		for _, c := range coordinators {
			user(c)
		}
		if capped != "" {
			user(capped)
		}
		pi = strings.TrimSpace(pi)
		if strings.Contains(pi, "@") {
			add(pi)
		} else {
			user(pi)
		}
		slices.Sort(out)
		return out
	}
}
