package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/templates"
)

// apiRoutes is the API, one row per endpoint (see apiRoute). Each handler
// reads through the same functions, scopes and rounding policy as the
// page it mirrors (named in its summary) and answers a value of its resp
// type. The roles are those of that page's route in routes().
func (s *Server) apiRoutes() []apiRoute {
	// Who may see periods, their statements and accounts: as GET /periods,
	// /periods/{name}, /accounts and /accounts/{account}.
	periodRoles := []string{RoleCoordinator, RoleAdmin, RoleFinance}
	return []apiRoute{
		{method: "GET", path: "/me", resp: apiMe{}, handle: s.apiMe,
			summary: "Who the token stands for: roles, coordinated accounts and the token itself (as Your account)"},
		{method: "GET", path: "/jobs", params: jobListParams(), resp: apiJobList{}, handle: s.apiJobs,
			summary: "Jobs in your scope, filtered as on the jobs page, newest first, a page at a time (keyset cursors); the fields of the jobs CSV"},
		{method: "GET", path: "/jobs/totals", params: jobFilterParams(), resp: apiJobTotals{}, handle: s.apiJobTotals,
			summary: "What every job the filters match adds up to, across all pages (the jobs page's totals)"},
		{method: "GET", path: "/jobs/{id}", params: []apiParam{pathParam("id", "the job's id in Tally (the \"id\" of a job in /jobs)")},
			resp: apiReceipt{}, handle: s.apiReceipt, summary: "One job's receipt: its charges, each with its breakdown (as /jobs/{id})"},
		{method: "GET", path: "/statements", resp: apiPeriodList{}, handle: s.apiMyStatements,
			summary: "Your own total in each billing period (as /statements)"},
		{method: "GET", path: "/statements/{period}/{user}", resp: apiUserStatement{}, handle: s.apiUserStatement,
			params:  []apiParam{pathParam("period", "the period's name, such as 2026-10"), pathParam("user", "the Slurm user")},
			summary: "One person's statement for a period: yours, or (coordinators) for your accounts, (admins, finance) anyone's"},
		{method: "GET", path: "/periods", roles: periodRoles, resp: apiPeriodList{}, handle: s.apiPeriods,
			summary: "Billing periods with their totals for the accounts you may see (as /periods)"},
		{method: "GET", path: "/periods/{name}", roles: periodRoles, resp: apiPeriodStatements{}, handle: s.apiPeriodStatements,
			params:  []apiParam{pathParam("name", "the period's name, such as 2026-10"), queryParam("account", "only this account's statement")},
			summary: "A period's statements with their lines, SHA-256 and status (as /periods/{name})"},
		{method: "GET", path: "/accounts", roles: periodRoles, resp: apiAccountList{}, handle: s.apiAccounts,
			summary: "Accounts you may see with their totals in the current period (as /accounts)"},
		{method: "GET", path: "/accounts/{account}", roles: periodRoles, resp: apiAccount{}, handle: s.apiAccount,
			params:  []apiParam{pathParam("account", "the Slurm account")},
			summary: "One account's usage and charges in the current period, by person and partition, and its recent periods (as /accounts/{account})"},
		{method: "GET", path: "/rates", roles: []string{RoleAdmin}, resp: apiRateCards{}, handle: s.apiRates,
			summary: "Every rate card version, the one in force marked (as /admin/rates)"},
		{method: "GET", path: "/budgets", params: []apiParam{queryParam("account", "only this account's budgets")}, resp: apiBudgetList{},
			handle: s.apiBudgets, summary: "The budgets you may see with their balances now: charged, running so far, left, thresholds reached and the forecast (as the account page and dashboard)"},
		{method: "POST", path: "/estimate", body: apiEstimateInput{}, resp: apiEstimate{}, handle: s.apiEstimate,
			summary: "What a job would cost under the card in force: the estimate page's inputs, as JSON or a form"},
	}
}

// Query parameters of the job list, as the jobs page reads them (jobFilter).
func jobFilterParams() []apiParam {
	return []apiParam{
		queryParam("cluster", "only this cluster's jobs"), queryParam("account", "only this account"), queryParam("user", "only this person"),
		queryParam("partition", "only this partition"), queryParam("qos", "only this QOS"), queryParam("state", "only this state, such as COMPLETED"),
		queryParam("q", "a job id, or part of a job name"),
		queryParam("from", "jobs that ended on or after this day (YYYY-MM-DD, UTC)"),
		queryParam("to", "jobs that ended on or before this day (YYYY-MM-DD, UTC)"),
	}
}

func jobListParams() []apiParam {
	return append(jobFilterParams(),
		queryParam("sort", "the order (default end)", "end", "cost", "elapsed", "cpus", "efficiency", "job"),
		queryParam("dir", "desc (default) or asc", "desc", "asc"),
		queryParam("limit", "jobs per page, 1 to "+strconv.Itoa(apiMaxPage)+" (default "+strconv.Itoa(apiDefaultPage)+")"),
		queryParam("after", "the next page: a next_cursor from the previous answer"),
		queryParam("before", "the previous page: a prev_cursor"))
}

const (
	apiDefaultPage = 100
	apiMaxPage     = 1000
)

// apiTokenKey holds the token a request authenticated with.
type apiTokenKey struct{}

// --- /me

type apiMe struct {
	User      string        `json:"user" doc:"the name signed in with"`
	SlurmUser string        `json:"slurm_user"`
	Roles     []string      `json:"roles" doc:"researcher, coordinator, admin, finance"`
	Accounts  []string      `json:"accounts" doc:"the Slurm accounts coordinated"`
	Token     apiTokenBrief `json:"token"`
}

type apiTokenBrief struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope" doc:"read: the only kind"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at" doc:"null: does not expire"`
}

func (s *Server) apiMe(r *http.Request, v *Viewer) (any, error) {
	out := apiMe{User: v.User, SlurmUser: v.SlurmUser, Roles: nonNil(v.Roles), Accounts: nonNil(v.Accounts)}
	if t, ok := r.Context().Value(apiTokenKey{}).(*apiToken); ok {
		out.Token = apiTokenBrief{ID: t.ID, Name: t.Name, Scope: t.Scope, CreatedAt: t.CreatedAt.UTC(), ExpiresAt: apiTime(t.ExpiresAt)}
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// --- /jobs

// apiJob is a job as the jobs CSV has it, with the id its receipt is
// read by.
type apiJob struct {
	ID             int64      `json:"id" doc:"Tally's id of the record: GET /jobs/{id}"`
	Cluster        string     `json:"cluster"`
	JobID          int64      `json:"job_id"`
	ArrayJobID     int64      `json:"array_job_id"`
	ArrayTaskID    *int64     `json:"array_task_id"`
	SlurmID        string     `json:"slurm_id" doc:"Slurm's name for the job: 55387, or 55387_3 for an array task"`
	ReceiptURL     string     `json:"receipt_url" doc:"its receipt page in Tally, by cluster and slurm_id"`
	Name           string     `json:"name"`
	User           string     `json:"user"`
	Account        string     `json:"account"`
	Partition      string     `json:"partition"`
	QOS            string     `json:"qos"`
	State          string     `json:"state"`
	Submit         time.Time  `json:"submit"`
	Start          *time.Time `json:"start"`
	End            *time.Time `json:"end"`
	ElapsedSeconds int64      `json:"elapsed_seconds"`
	CPUs           int64      `json:"cpus"`
	MemMiB         int64      `json:"mem_mib"`
	GPUs           int64      `json:"gpus"`
	CPUTimeSeconds int64      `json:"cpu_time_seconds"`
	Total          *apiMoney  `json:"total" doc:"null: not rated yet"`
}

type apiJobList struct {
	Jobs       []apiJob `json:"jobs"`
	NextCursor string   `json:"next_cursor,omitempty" doc:"pass as after= for the next page; absent on the last"`
	PrevCursor string   `json:"prev_cursor,omitempty" doc:"pass as before= for the previous page; absent on the first"`
}

func (f figures) job(j billingpg.JobRow) apiJob {
	out := apiJob{ID: j.Row, Cluster: j.Cluster, JobID: j.JobID, ArrayJobID: j.ArrayJobID, ArrayTaskID: j.ArrayTaskID,
		SlurmID: templates.JobLabel(j.JobID, j.ArrayJobID, j.ArrayTaskID), ReceiptURL: templates.JobHref(j.Cluster, j.JobID, j.ArrayJobID, j.ArrayTaskID), Name: j.Name,
		User: j.User, Account: j.Account, Partition: j.Partition, QOS: j.QOS, State: j.State, Submit: j.Submit.UTC(),
		Start: apiTime(j.Start), End: apiTime(j.End), ElapsedSeconds: j.ElapsedSeconds, CPUs: j.CPUs, MemMiB: j.MemMiB, GPUs: j.GPUs,
		CPUTimeSeconds: j.CPUTimeMicros / 1_000_000}
	if j.Total != nil {
		m := f.amount(*j.Total, j.Currency)
		out.Total = &m
	}
	return out
}

func (s *Server) apiJobs(r *http.Request, v *Viewer) (any, error) {
	f, err := s.jobFilter(r)
	if err != nil {
		return nil, err
	}
	size := apiDefaultPage
	if l := r.URL.Query().Get("limit"); l != "" {
		if size, err = strconv.Atoi(l); err != nil || size < 1 || size > apiMaxPage {
			return nil, &inputError{fmt.Sprintf("The limit must be a whole number from 1 to %d.", apiMaxPage)}
		}
	}
	f.Limit = size + 1
	rows, err := s.billing.Jobs(r.Context(), scope(v), f)
	if err != nil {
		return nil, err
	}
	rows, next, prev := keysetPage(f, rows, size)
	out := apiJobList{Jobs: make([]apiJob, 0, len(rows))}
	if next != nil {
		out.NextCursor = next.String()
	}
	if prev != nil {
		out.PrevCursor = prev.String()
	}
	fig := figures{s.policy(r.Context())}
	for _, j := range rows {
		out.Jobs = append(out.Jobs, fig.job(j))
	}
	return out, nil
}

type apiJobTotals struct {
	Jobs      int64    `json:"jobs"`
	CoreHours string   `json:"core_hours" doc:"decimal, two places"`
	GPUHours  string   `json:"gpu_hours" doc:"decimal, two places"`
	Total     apiMoney `json:"total"`
}

func (s *Server) apiJobTotals(r *http.Request, v *Viewer) (any, error) {
	f, err := s.jobFilter(r)
	if err != nil {
		return nil, err
	}
	t, err := s.billing.Totals(r.Context(), scope(v), f)
	if err != nil {
		return nil, err
	}
	if t.Currency == "" {
		t.Currency = s.cardCurrency(r.Context())
	}
	return apiJobTotals{Jobs: t.Jobs, CoreHours: t.CoreHours, GPUHours: t.GPUHours, Total: figures{s.policy(r.Context())}.amount(t.Total, t.Currency)}, nil
}

// --- /jobs/{id}

type apiReceipt struct {
	Job       apiJob      `json:"job"`
	Reason    string      `json:"reason" doc:"why Slurm ended or held it, as Slurm says"`
	Eligible  *time.Time  `json:"eligible"`
	Steps     []apiStep   `json:"steps"`
	Charges   []apiCharge `json:"charges" doc:"one per billing period the job is charged in"`
	CostSoFar *apiSoFar   `json:"cost_so_far,omitempty" doc:"a running job priced as if it stopped now: shown, never charged"`
}

type apiStep struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	State          string `json:"state"`
	ExitCode       *int   `json:"exit_code"`
	ElapsedSeconds int64  `json:"elapsed_seconds"`
	CPUTimeSeconds int64  `json:"cpu_time_seconds"`
	Tasks          int64  `json:"tasks"`
	Nodes          string `json:"nodes"`
}

type apiCharge struct {
	Period        string          `json:"period" doc:"empty: not yet in a billing period"`
	PeriodStatus  string          `json:"period_status"`
	PortionStart  time.Time       `json:"portion_start"`
	PortionEnd    time.Time       `json:"portion_end"`
	RateCard      string          `json:"rate_card"`
	Total         apiMoney        `json:"total"`
	Idle          apiMoney        `json:"idle" doc:"the part of the CPU charge paid for cores that sat idle"`
	EfficiencyPPM *int64          `json:"efficiency_ppm" doc:"CPU efficiency in parts per million"`
	NotCharged    string          `json:"not_charged" doc:"why the job costs nothing, when it does not"`
	AccountReason string          `json:"account_reason"`
	Lines         []apiChargeLine `json:"lines"`
}

// apiChargeLine is one line of a charge, exact to the micro-unit as the
// receipt shows it.
type apiChargeLine struct {
	Component         string   `json:"component" doc:"cpu, mem, gpu, node, billing, cpu_time, fee, minimum"`
	GPUType           string   `json:"gpu_type"`
	Quantity          string   `json:"quantity" doc:"exact decimal"`
	Unit              string   `json:"unit"`
	UnitPrice         apiMoney `json:"unit_price"`
	QOSMultiplier     string   `json:"qos_multiplier" doc:"exact decimal"`
	AccountMultiplier string   `json:"account_multiplier" doc:"exact decimal"`
	Amount            apiMoney `json:"amount"`
	Note              string   `json:"note"`
}

type apiSoFar struct {
	ElapsedSeconds int64     `json:"elapsed_seconds"`
	Total          *apiMoney `json:"total" doc:"null when it cannot be priced (see error)"`
	Error          string    `json:"error,omitempty"`
}

func chargeLines(ls []billing.Line, currency string) []apiChargeLine {
	out := make([]apiChargeLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, apiChargeLine{Component: l.Component, GPUType: l.GPUType, Quantity: l.Quantity, Unit: l.Unit,
			UnitPrice: exactAmount(l.UnitPrice, currency), QOSMultiplier: l.QOSMultiplier.String(),
			AccountMultiplier: l.AccountMultiplier.String(), Amount: exactAmount(l.Amount, currency), Note: l.Note})
	}
	return out
}

func (s *Server) apiReceipt(r *http.Request, v *Viewer) (any, error) {
	rc, err := s.receiptFor(r.Context(), v, r.PathValue("id"))
	if notVisible(err) {
		return nil, apiNotFound()
	}
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(r.Context())}
	currency := rc.Job.Currency
	out := apiReceipt{Job: f.job(rc.Job), Reason: rc.Reason, Eligible: apiTime(rc.Eligible), Steps: make([]apiStep, 0, len(rc.StepList)),
		Charges: make([]apiCharge, 0, len(rc.Charges))}
	for _, st := range rc.StepList {
		out.Steps = append(out.Steps, apiStep{ID: st.ID, Name: st.Name, State: st.State, ExitCode: st.ExitCode, ElapsedSeconds: st.ElapsedSeconds,
			CPUTimeSeconds: st.CPUTimeMicros / 1_000_000, Tasks: st.Tasks, Nodes: st.Nodes})
	}
	for _, c := range rc.Charges {
		out.Charges = append(out.Charges, apiCharge{Period: c.Period, PeriodStatus: c.PeriodStatus, PortionStart: c.PortionStart.UTC(),
			PortionEnd: c.PortionEnd.UTC(), RateCard: c.RateCard, Total: f.amount(c.Total, currency), Idle: f.amount(c.Idle, currency),
			EfficiencyPPM: c.EfficiencyPPM, NotCharged: c.NotCharged, AccountReason: c.AccountReason, Lines: chargeLines(c.Lines, currency)})
	}
	if sf := s.costSoFar(r.Context(), rc, time.Now()); sf != nil {
		out.CostSoFar = &apiSoFar{ElapsedSeconds: sf.Elapsed, Error: sf.Error}
		if sf.Error == "" {
			m := f.amount(sf.Charge.Total, sf.Charge.Currency)
			out.CostSoFar.Total = &m
		}
	}
	return out, nil
}

// --- periods and statements

type apiPeriod struct {
	Name     string     `json:"name"`
	Starts   time.Time  `json:"starts"`
	Ends     time.Time  `json:"ends" doc:"exclusive"`
	Status   string     `json:"status" doc:"open or closed"`
	ClosedAt *time.Time `json:"closed_at"`
	ClosedBy string     `json:"closed_by"`
}

func periodOf(p billing.Period) apiPeriod {
	return apiPeriod{Name: p.Name, Starts: p.Starts.UTC(), Ends: p.Ends.UTC(), Status: p.Status, ClosedAt: apiTime(p.ClosedAt), ClosedBy: p.ClosedBy}
}

type apiPeriodRow struct {
	apiPeriod
	Jobs  int64    `json:"jobs" doc:"distinct jobs charged"`
	Total apiMoney `json:"total" doc:"the sum of the statements' totals"`
}

type apiPeriodList struct {
	Periods []apiPeriodRow `json:"periods" doc:"newest first"`
}

func (f figures) periodList(ps []billingpg.PeriodSummary, fallback string) apiPeriodList {
	out := apiPeriodList{Periods: make([]apiPeriodRow, 0, len(ps))}
	for _, p := range ps {
		currency := p.Currency
		if currency == "" {
			currency = fallback
		}
		out.Periods = append(out.Periods, apiPeriodRow{apiPeriod: periodOf(p.Period), Jobs: p.Jobs, Total: f.amount(p.Total, currency)})
	}
	return out
}

func (s *Server) apiPeriods(r *http.Request, v *Viewer) (any, error) {
	ps, err := s.billing.PeriodSummaries(r.Context(), statementAccounts(v), s.rounding)
	if err != nil {
		return nil, err
	}
	return figures{s.policy(r.Context())}.periodList(ps, s.cardCurrency(r.Context())), nil
}

func (s *Server) apiMyStatements(r *http.Request, v *Viewer) (any, error) {
	ps, err := s.billing.UserPeriodSummaries(r.Context(), v.SlurmUser, s.rounding)
	if err != nil {
		return nil, err
	}
	return figures{s.policy(r.Context())}.periodList(ps, s.cardCurrency(r.Context())), nil
}

// apiStatementLine is one line of a statement: its jobs' exact sum,
// rounded once.
type apiStatementLine struct {
	Account   string   `json:"account"`
	Cluster   string   `json:"cluster" doc:"the cluster the line's jobs ran on; empty for adjustments and for statements issued before lines were per cluster"`
	Component string   `json:"component" doc:"cpu, mem, gpu, ..., adjustments"`
	Jobs      int      `json:"jobs"`
	ExactSum  string   `json:"exact_sum" doc:"the exact sum of the jobs' lines, to the micro-unit"`
	Amount    apiMoney `json:"amount" doc:"that sum rounded once to the minor unit: what is billed"`
}

func (f figures) statementLines(ls []billing.StatementLine, currency string) []apiStatementLine {
	out := make([]apiStatementLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, apiStatementLine{Account: l.Account, Cluster: l.Cluster, Component: l.Component, Jobs: l.Jobs, ExactSum: l.Exact.String(),
			Amount: f.amount(l.Amount, currency)})
	}
	return out
}

type apiStatement struct {
	Number   string             `json:"number" doc:"empty while the period is open"`
	Status   string             `json:"status" doc:"preview (period open) or issued (closed: final)"`
	Account  string             `json:"account"`
	Details  apiAccountDetails  `json:"details" doc:"frozen into the statement at the close"`
	Jobs     int                `json:"jobs"`
	Lines    []apiStatementLine `json:"lines"`
	Total    apiMoney           `json:"total" doc:"the sum of the rounded lines"`
	ExactSum string             `json:"exact_sum" doc:"the exact sum of the lines before rounding"`
	SHA256   string             `json:"sha256" doc:"of the issued statement; empty in a preview"`
}

type apiAccountDetails struct {
	DisplayName string `json:"display_name"`
	PI          string `json:"pi"`
	CostCentre  string `json:"cost_centre"`
	PONumber    string `json:"po_number"`
}

type apiPeriodStatements struct {
	Period     apiPeriod      `json:"period"`
	Jobs       int            `json:"jobs"`
	Total      apiMoney       `json:"total" doc:"the sum of the statements"`
	ExactSum   string         `json:"exact_sum" doc:"the exact sum of every line before rounding"`
	Statements []apiStatement `json:"statements"`
}

func (s *Server) apiPeriodStatements(r *http.Request, v *Viewer) (any, error) {
	accounts, err := periodScope(v, r.URL.Query().Get("account"))
	if err != nil {
		return nil, apiNotFound()
	}
	ps, err := s.billing.Statements(r.Context(), r.PathValue("name"), accounts, s.rounding)
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(r.Context())}
	currency := ps.Currency
	if currency == "" {
		currency = s.cardCurrency(r.Context())
	}
	out := apiPeriodStatements{Period: periodOf(ps.Period), Jobs: ps.Jobs, Total: f.amount(ps.Total, currency), ExactSum: ps.Exact().String(),
		Statements: make([]apiStatement, 0, len(ps.Statements))}
	for _, st := range ps.Statements {
		status := "preview"
		if st.Number != "" {
			status = "issued"
		}
		d := st.Details
		out.Statements = append(out.Statements, apiStatement{Number: st.Number, Status: status, Account: st.Account,
			Details: apiAccountDetails{DisplayName: d.DisplayName, PI: d.PI, CostCentre: d.CostCentre, PONumber: d.PONumber},
			Jobs:    st.Jobs, Lines: f.statementLines(st.Lines, st.Currency), Total: f.amount(st.Total, st.Currency), ExactSum: st.Exact().String(),
			SHA256: st.SHA256})
	}
	return out, nil
}

type apiUserStatement struct {
	Period    apiPeriod          `json:"period"`
	User      string             `json:"user"`
	Jobs      int64              `json:"jobs"`
	CoreHours string             `json:"core_hours"`
	GPUHours  string             `json:"gpu_hours"`
	Lines     []apiStatementLine `json:"lines"`
	Total     apiMoney           `json:"total"`
	ExactSum  string             `json:"exact_sum" doc:"the exact sum of the lines before rounding"`
}

func (s *Server) apiUserStatement(r *http.Request, v *Viewer) (any, error) {
	user := r.PathValue("user")
	accounts, ok := userStatementAccounts(v, user)
	if !ok {
		return nil, apiNotFound()
	}
	us, err := s.billing.UserStatement(r.Context(), r.PathValue("period"), user, accounts, s.rounding)
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(r.Context())}
	var exact billing.Micros
	for _, l := range us.Lines {
		exact += l.Exact
	}
	return apiUserStatement{Period: periodOf(us.Period), User: us.User, Jobs: us.Jobs, CoreHours: us.CoreHours, GPUHours: us.GPUHours,
		Lines: f.statementLines(us.Lines, us.Currency), Total: f.amount(us.Total, us.Currency), ExactSum: exact.String()}, nil
}

// --- accounts

type apiAccountRow struct {
	Account string   `json:"account"`
	Jobs    int      `json:"jobs"`
	Total   apiMoney `json:"total" doc:"the account's statement total for the period"`
}

type apiAccountList struct {
	Period   apiPeriod       `json:"period" doc:"the current period"`
	Accounts []apiAccountRow `json:"accounts" doc:"largest first"`
}

func (s *Server) apiAccounts(r *http.Request, v *Viewer) (any, error) {
	ctx := r.Context()
	cur, err := s.currentPeriod(ctx, time.Now().UTC())
	if err != nil {
		return nil, err
	}
	sts, err := s.accountStatements(ctx, v, cur)
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(ctx)}
	out := apiAccountList{Period: periodOf(cur), Accounts: make([]apiAccountRow, 0, len(sts))}
	for _, st := range sts {
		out.Accounts = append(out.Accounts, apiAccountRow{Account: st.Account, Jobs: st.Jobs, Total: f.amount(st.Total, st.Currency)})
	}
	return out, nil
}

type apiUsage struct {
	Jobs              int64    `json:"jobs"`
	CoreHours         string   `json:"core_hours"`
	GPUHours          string   `json:"gpu_hours"`
	EfficiencyPercent int64    `json:"efficiency_percent" doc:"CPU efficiency, whole percent"`
	Total             apiMoney `json:"total"`
	Idle              apiMoney `json:"idle"`
}

type apiBreakdownRow struct {
	Key       string   `json:"key"`
	Jobs      int64    `json:"jobs"`
	CoreHours string   `json:"core_hours"`
	GPUHours  string   `json:"gpu_hours"`
	Total     apiMoney `json:"total"`
}

type apiTotalRow struct {
	Name  string   `json:"name"`
	Jobs  int64    `json:"jobs"`
	Total apiMoney `json:"total"`
}

type apiPeriodTotal struct {
	Period string   `json:"period"`
	Status string   `json:"status"`
	Jobs   int64    `json:"jobs"`
	Total  apiMoney `json:"total"`
}

type apiAccount struct {
	Account    string            `json:"account"`
	Period     apiPeriod         `json:"period" doc:"the current period"`
	Usage      apiUsage          `json:"usage"`
	Users      []apiBreakdownRow `json:"users" doc:"by person: each their statement total"`
	Partitions []apiTotalRow     `json:"partitions"`
	Trend      []apiPeriodTotal  `json:"trend" doc:"the statement totals of the last periods, oldest first"`
}

func (s *Server) apiAccount(r *http.Request, v *Viewer) (any, error) {
	a, err := s.accountOverview(r.Context(), v, r.PathValue("account"), "", billingpg.Period{})
	if notVisible(err) {
		return nil, apiNotFound()
	}
	if err != nil {
		return nil, err
	}
	f := figures{s.policy(r.Context())}
	currency := a.Summary.Currency
	sum := a.Summary
	out := apiAccount{Account: a.Account, Period: periodOf(a.Period), Usage: apiUsage{Jobs: sum.Jobs, CoreHours: sum.CoreHours, GPUHours: sum.GPUHours,
		EfficiencyPercent: sum.EfficiencyPPM / 10000, Total: f.amount(sum.Total, currency), Idle: f.amount(sum.Idle, currency)},
		Users: make([]apiBreakdownRow, 0, len(a.Users)), Partitions: make([]apiTotalRow, 0, len(a.Partitions)), Trend: make([]apiPeriodTotal, 0, len(a.Trend))}
	for _, u := range a.Users {
		out.Users = append(out.Users, apiBreakdownRow{Key: u.Key, Jobs: u.Jobs, CoreHours: u.CoreHours, GPUHours: u.GPUHours, Total: f.amount(u.Total, currency)})
	}
	for _, p := range a.Partitions {
		out.Partitions = append(out.Partitions, apiTotalRow{Name: p.Name, Jobs: p.Jobs, Total: f.amount(p.Total, currency)})
	}
	for _, t := range a.Trend {
		out.Trend = append(out.Trend, apiPeriodTotal{Period: t.Period, Status: t.Status, Jobs: t.Jobs, Total: f.amount(t.Total, currency)})
	}
	return out, nil
}

// --- rate cards

type apiRateCard struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Version       int       `json:"version"`
	Cluster       string    `json:"cluster" doc:"empty: any cluster"`
	Currency      string    `json:"currency"`
	EffectiveFrom time.Time `json:"effective_from"`
	InForce       bool      `json:"in_force" doc:"the version pricing jobs that end now"`
	Spec          string    `json:"spec" doc:"the version as YAML, as tally rates import reads it"`
}

type apiRateCards struct {
	Cards []apiRateCard `json:"cards" doc:"every version, oldest first"`
}

func (s *Server) apiRates(r *http.Request, v *Viewer) (any, error) {
	cards, err := s.billing.Cards(r.Context())
	if err != nil {
		return nil, err
	}
	inForce := cards.InForce(s.auth.Cluster, time.Now())
	out := apiRateCards{Cards: make([]apiRateCard, 0, len(cards))}
	for _, c := range cards {
		spec, err := billing.MarshalVersion(c)
		if err != nil {
			return nil, err
		}
		out.Cards = append(out.Cards, apiRateCard{ID: c.ID, Name: c.Name, Version: c.Version, Cluster: c.Cluster, Currency: c.Currency,
			EffectiveFrom: c.EffectiveFrom.UTC(), InForce: c == inForce, Spec: string(spec)})
	}
	return out, nil
}

// --- estimate

// apiEstimateInput is the estimate page's form. Numbers may be sent as
// JSON numbers or as text, as typed on the page.
type apiEstimateInput struct {
	Partition string   `json:"partition"`
	CPUs      flexText `json:"cpus" doc:"default 1"`
	Mem       string   `json:"mem" doc:"such as 64G"`
	GPUs      string   `json:"gpus" doc:"such as a100:2, or 2"`
	Time      string   `json:"time" doc:"wall time, such as 12:00:00 or 1-00:00:00"`
	QOS       string   `json:"qos" doc:"default normal"`
	Account   string   `json:"account"`
	CPUTime   string   `json:"cpu_time" doc:"CPU time you expect to use, for cards that price it (default: every CPU busy for the whole time)"`
	CPUEff    string   `json:"cpu_efficiency" doc:"instead of cpu_time: the percentage of CPUs × time you expect to keep busy, such as 75"`
	Cluster   string   `json:"cluster" doc:"which cluster's rate card prices it (default: the first configured)"`
}

// flexText is a JSON string, or a number read as the text it was written as.
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*t = flexText(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("give text or a number")
	}
	*t = flexText(s)
	return nil
}

type apiEstimate struct {
	RateCard string          `json:"rate_card"`
	Total    apiMoney        `json:"total"`
	Lines    []apiChargeLine `json:"lines"`
}

func (s *Server) apiEstimate(r *http.Request, v *Viewer) (any, error) {
	in, err := readEstimateInput(r)
	if err != nil {
		return nil, err
	}
	f := templates.EstimateForm{Partition: in.Partition, CPUs: string(in.CPUs), Mem: in.Mem, GPUs: in.GPUs, Time: in.Time, QOS: in.QOS,
		Account: in.Account, CPUTime: in.CPUTime, CPUEfficiency: in.CPUEff, Cluster: in.Cluster}
	if f.QOS == "" {
		f.QOS = "normal"
	}
	if f.CPUs == "" {
		f.CPUs = "1"
	}
	if strings.TrimSpace(f.Time) == "" {
		return nil, &inputError{"Give the job's wall time (time), such as 12:00:00."}
	}
	cards, err := s.billing.Cards(r.Context())
	if err != nil {
		return nil, err
	}
	if cards.InForce(s.auth.Cluster, time.Now()) == nil {
		return nil, &apiErr{http.StatusUnprocessableEntity, "invalid_input", "No rate card is in force yet, so nothing can be estimated."}
	}
	ch, err := s.priceEstimate(r.Context(), cards, f)
	if err != nil {
		return nil, err
	}
	return apiEstimate{RateCard: ch.RateCardName + " v" + strconv.Itoa(ch.RateCardVersion),
		Total: figures{s.policy(r.Context())}.amount(ch.Total, ch.Currency), Lines: chargeLines(ch.Lines, ch.Currency)}, nil
}

// readEstimateInput reads a JSON body or a form, checking JSON fields as
// the input check (checkedInput) checks form fields.
func readEstimateInput(r *http.Request) (apiEstimateInput, error) {
	var in apiEstimateInput
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded": // read and checked by apiEntry
		p := r.PostForm
		in = apiEstimateInput{Partition: p.Get("partition"), CPUs: flexText(p.Get("cpus")), Mem: p.Get("mem"), GPUs: p.Get("gpus"),
			Time: p.Get("time"), QOS: p.Get("qos"), Account: p.Get("account"), CPUTime: p.Get("cpu_time"),
			CPUEff: p.Get("cpu_efficiency")}
		return in, nil
	case "application/json", "":
	default:
		return in, &apiErr{http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the inputs as application/json (or as a form)."}
	}
	dec := json.NewDecoder(r.Body) // bounded by apiEntry (maxFormBytes)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return in, &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The body is larger than Tally accepts (%d bytes at most).", maxFormBytes)}
		}
		return in, &apiErr{http.StatusBadRequest, "bad_request", "The body is not the JSON object the estimate takes: " + clip(err.Error(), 200)}
	}
	vals := url.Values{}
	for k, v := range map[string]string{"partition": in.Partition, "cpus": string(in.CPUs), "mem": in.Mem, "gpus": in.GPUs, "time": in.Time,
		"qos": in.QOS, "account": in.Account, "cpu_time": in.CPUTime, "cpu_efficiency": in.CPUEff} {
		vals.Set(k, v)
	}
	if err := checkValues("body", vals); err != nil {
		return in, err
	}
	return in, nil
}

// withToken keeps the authenticating token in the request's context.
func withToken(r *http.Request, t *apiToken) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), apiTokenKey{}, t))
}

// clip shortens an error's words for an answer.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
