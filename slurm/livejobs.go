package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tally-hpc/tally/billing"
)

// LiveVersions are the slurmctld API versions (/slurm/vX/jobs) whose live
// job list Tally reads, newest first: v0.0.38 (Slurm 22.05) to v0.0.44
// (25.11).
func LiveVersions() []string {
	return []string{"v0.0.44", "v0.0.43", "v0.0.42", "v0.0.41", "v0.0.40", "v0.0.39", "v0.0.38"}
}

// PickLiveVersion picks, from the paths of slurmrestd's OpenAPI document,
// the newest slurmctld version that lists jobs and that Tally reads.
func PickLiveVersion(paths []string) (string, error) {
	return pickVersion(paths, "slurm", LiveVersions())
}

// DiscoverLiveVersion finds the newest /slurm/vX/jobs both slurmrestd and
// Tally know. It is asked apart from the slurmdb version: a slurmrestd may
// load the slurmctld and slurmdbd plugins at different versions.
func (c *Client) DiscoverLiveVersion(ctx context.Context, creds CredentialSource) (string, error) {
	paths, err := c.openAPIPaths(ctx, creds)
	if err != nil {
		return "", err
	}
	return PickLiveVersion(paths)
}

// LiveJobsAnswer is slurmctld's live job list as Tally keeps it.
type LiveJobsAnswer struct {
	// Cluster is the cluster the answer names (v0.0.40+ say so in meta;
	// 22.05 only per job); "" when it names none.
	Cluster string
	// Jobs are the jobs that have not ended: pending, running, suspended,
	// completing, requeued. Running ones accrue cost.
	Jobs []billing.RunningJob
	// Ended counts the finished jobs slurmctld still lists (for MinJobAge):
	// their cost is slurmdb's, read by ingest, so they are left out here.
	Ended int
	// Rejects are the records that could not be read, with why. They are
	// left out of Jobs, never silently.
	Rejects  []Reject
	Warnings []string
}

// LiveJobs reads slurmctld's list of current jobs (GET /slurm/vX/jobs):
// what the cluster runs now, for the accruing cost of budgets. An auth
// refusal gets a fresh credential and one more try; anything else fails
// the read (the caller keeps what it had and tries again next time).
func (c *Client) LiveJobs(ctx context.Context, creds CredentialSource, version string) (LiveJobsAnswer, error) {
	ans, err := c.liveJobsOnce(ctx, creds, version)
	if errors.Is(err, ErrAuth) {
		creds.Invalidate()
		ans, err = c.liveJobsOnce(ctx, creds, version)
	}
	return ans, err
}

func (c *Client) liveJobsOnce(ctx context.Context, creds CredentialSource, version string) (LiveJobsAnswer, error) {
	cred, err := creds.Credential(ctx)
	if err != nil {
		return LiveJobsAnswer{}, err
	}
	// slurmctld answers with every job (SHOW_ALL | SHOW_DETAIL) whatever
	// the query: there is nothing to ask for.
	resp, err := c.get(ctx, cred, "/slurm/"+version+"/jobs", nil)
	if err != nil {
		return LiveJobsAnswer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return LiveJobsAnswer{}, classifyOrError(resp.StatusCode, b)
	}
	ans, errs, err := decodeLiveJobs(resp.Body)
	if cerr := classify(resp.StatusCode, errs, ""); cerr != nil {
		return LiveJobsAnswer{}, cerr
	}
	if err != nil {
		return LiveJobsAnswer{}, fmt.Errorf("slurmrestd live jobs answer: %w", err)
	}
	return ans, nil
}

// DecodeLiveJobs reads a /slurm/vX/jobs answer of any version from v0.0.38.
// The answer is read as a stream, one record at a time, so its size (a
// busy cluster lists tens of thousands of jobs, each with its core map)
// does not matter. A record that is valid JSON but not a readable job is
// rejected with its reason; JSON that breaks off or is not JSON fails the
// whole answer, as nothing after it can be trusted.
func DecodeLiveJobs(r io.Reader) (LiveJobsAnswer, error) {
	ans, errs, err := decodeLiveJobs(r)
	if err == nil {
		err = classify(http.StatusOK, errs, "")
	}
	return ans, err
}

func decodeLiveJobs(r io.Reader) (LiveJobsAnswer, []APIError, error) {
	var ans LiveJobsAnswer
	var errs []APIError
	dec := jsontext.NewDecoder(r, jsontext.AllowInvalidUTF8(true))
	if err := expectKind(dec, '{'); err != nil {
		return ans, nil, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return ans, errs, truncated(err)
		}
		switch tok.String() {
		case "errors":
			if err := jsonv2.UnmarshalDecode(dec, &errs); err != nil {
				return ans, errs, fmt.Errorf("errors: %w", truncated(err))
			}
		case "warnings":
			var ws []struct {
				Description string `json:"description"`
				Source      string `json:"source"`
			}
			if err := jsonv2.UnmarshalDecode(dec, &ws); err != nil {
				return ans, errs, fmt.Errorf("warnings: %w", truncated(err))
			}
			for _, w := range ws {
				ans.Warnings = append(ans.Warnings, strings.TrimSpace(w.Description+" "+w.Source))
			}
		case "meta":
			var meta struct {
				Slurm struct {
					Cluster flexString `json:"cluster"`
				} `json:"slurm"`
			}
			v, err := dec.ReadValue()
			if err != nil {
				return ans, errs, fmt.Errorf("meta: %w", truncated(err))
			}
			// meta only names the cluster; a meta Tally cannot read costs
			// nothing but that name.
			if jsonv2.Unmarshal(v, &meta) == nil {
				ans.Cluster = CleanText(string(meta.Slurm.Cluster))
			}
		case "jobs":
			if err := expectKind(dec, '['); err != nil {
				return ans, errs, fmt.Errorf("jobs: %w", err)
			}
			for n := 1; dec.PeekKind() != ']'; n++ {
				v, err := dec.ReadValue()
				if err != nil {
					return ans, errs, fmt.Errorf("job record %d: %w", n, truncated(err))
				}
				j, ended, rej := readLiveJob(v)
				switch {
				case rej != "":
					ans.Rejects = append(ans.Rejects, Reject{Line: n, Raw: liveExcerpt(v), Err: rej})
				case ended:
					ans.Ended++
				default:
					ans.Jobs = append(ans.Jobs, j)
				}
			}
			if _, err := dec.ReadToken(); err != nil {
				return ans, errs, truncated(err)
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return ans, errs, truncated(err)
			}
		}
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return ans, errs, truncated(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return ans, errs, truncated(err)
	}
	if ans.Cluster == "" {
		// 22.05 names the cluster only in each job; one slurmctld serves
		// one cluster.
		for _, j := range ans.Jobs {
			if j.Cluster != "" {
				ans.Cluster = j.Cluster
				break
			}
		}
	}
	return ans, errs, nil
}

// wireLiveJob is the part of a slurmctld job record (v0.0.38-v0.0.44)
// Tally reads. Numbers are plain (v0.0.38) or {set, infinite, number}
// (v0.0.40+); flexInt reads both.
type wireLiveJob struct {
	JobID        flexInt     `json:"job_id"`
	User         flexString  `json:"user_name"`
	Account      flexString  `json:"account"`
	Partition    flexString  `json:"partition"`
	QOS          flexString  `json:"qos"`
	Cluster      flexString  `json:"cluster"`
	State        flexStrings `json:"job_state"`
	Submit       flexInt     `json:"submit_time"`
	Start        flexInt     `json:"start_time"`
	TimeLimit    flexInt     `json:"time_limit"` // minutes
	TRESReq      string      `json:"tres_req_str"`
	TRESAlloc    string      `json:"tres_alloc_str"`
	CPUs         flexInt     `json:"cpus"`
	NodeCount    flexInt     `json:"node_count"`
	MemPerCPU    flexInt     `json:"memory_per_cpu"`  // MiB
	MemPerNode   flexInt     `json:"memory_per_node"` // MiB
	BillableTRES flexInt     `json:"billable_tres"`
}

// ended says whether a state is final: such a job holds nothing any more
// and slurmdb has (or will have) its record for ingest to charge.
func ended(state string) bool {
	switch state {
	case "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
		"OUT_OF_MEMORY", "REVOKED":
		return true
	}
	return false
}

// waiting says whether a job has not started (or waits to start again):
// slurmctld's start time for it is the scheduler's estimate, not a start.
func waiting(base, state string) bool {
	switch state {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESV_DEL_HOLD":
		return true
	}
	return base == "PENDING"
}

// readLiveJob reads one record: the job, or that it has ended, or why it
// cannot be read.
func readLiveJob(v jsontext.Value) (j billing.RunningJob, isEnded bool, reject string) {
	var w wireLiveJob
	if err := jsonv2.Unmarshal(v, &w); err != nil {
		return j, false, "unreadable job record: " + err.Error()
	}
	// The state as sacct prints it: v0.0.40+ send ["RUNNING", "COMPLETING"],
	// 22.05 the one word.
	state := normalizeState(jobState(w.State))
	if state == "" {
		return j, false, "no job state"
	}
	if ended(state) {
		return j, true, ""
	}
	// Requested TRES, as charging uses by default (the card's basis);
	// the allocation when no request is listed, as rating does. Only
	// what slurmctld accounts (AccountingStorageTRES) appears: a GPU the
	// site does not account is not charged at the end either.
	src, str := "tres_req_str", w.TRESReq
	if strings.TrimSpace(str) == "" {
		src, str = "tres_alloc_str", w.TRESAlloc
	}
	req, err := ParseTRES(strings.TrimSpace(str))
	if err != nil {
		return j, false, src + ": " + err.Error()
	}
	// The numeric fields fill what the string leaves out.
	if req.CPU == 0 {
		req.CPU = w.CPUs.Value
	}
	if req.Nodes == 0 {
		req.Nodes = w.NodeCount.Value
	}
	if req.MemMiB == 0 {
		switch {
		case w.MemPerNode.Set && w.MemPerNode.Value > 0:
			req.MemMiB = saturatingMul(w.MemPerNode.Value, max(req.Nodes, 1))
		case w.MemPerCPU.Set && w.MemPerCPU.Value > 0:
			req.MemMiB = saturatingMul(w.MemPerCPU.Value, req.CPU)
		}
	}
	if req.Billing == 0 && w.BillableTRES.Set {
		req.Billing = w.BillableTRES.Value
	}
	rec := Job{Cluster: string(w.Cluster), JobID: w.JobID.Value, User: string(w.User), Account: string(w.Account),
		Partition: string(w.Partition), QOS: string(w.QOS), State: state,
		Submit: unixOrZero(w.Submit.Value), Start: unixOrZero(w.Start.Value), Requested: req}
	if waiting(normalizeState(w.State.first()), state) {
		rec.Start = time.Time{}
	}
	rec.cleanText()
	// The limits ingest holds slurmdb's records to hold here too.
	if why := rec.Implausible(); why != "" {
		return j, false, "implausible record: " + why
	}
	j = billing.RunningJob{Cluster: rec.Cluster, JobID: rec.JobID, User: rec.User, Account: rec.Account,
		Partition: rec.Partition, QOS: rec.QOS, State: rec.State, Submit: rec.Submit, Start: rec.Start,
		CPUs: req.CPU, MemMiB: req.MemMiB, Nodes: req.Nodes, Billing: req.Billing}
	// No limit: unset, INFINITE (v0.0.40+ say so; 22.05 prints
	// 4294967295) or NO_VAL.
	if lim := w.TimeLimit; lim.Set && lim.Value > 0 && lim.Value < 0xfffffffe {
		j.TimeLimit = time.Duration(lim.Value) * time.Minute
	}
	if req.GPU > 0 {
		j.GPUs = map[string]int64{}
		var typed int64
		for t, n := range req.GPUByType {
			j.GPUs[t] = n
			typed += n
		}
		// Untyped GPUs beyond the typed ones count under "".
		if req.GPU > typed {
			j.GPUs[""] = req.GPU - typed
		}
	}
	return j, false, ""
}

// saturatingMul multiplies non-negative counts, stopping at MaxInt64 so an
// absurd product stays absurd (and is rejected) instead of wrapping.
func saturatingMul(a, b int64) int64 {
	if a > 0 && b > 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// liveExcerpt names a rejected record: its job id when it has one, and
// the start of its JSON.
func liveExcerpt(v jsontext.Value) string {
	var id struct {
		JobID flexInt `json:"job_id"`
	}
	s := string(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	s = CleanText(s)
	if jsonv2.Unmarshal(v, &id) == nil && id.JobID.Value != 0 {
		return "job " + strconv.FormatInt(id.JobID.Value, 10) + ": " + s
	}
	return s
}
