package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/templates"
)

// viewerCredential lends the signed-in person's own Slurm token (kept in
// the session, renewed there) to the slurmrestd client: this page is what
// the stored token is for.
type viewerCredential struct {
	cred slurm.Credential
}

func (v viewerCredential) Credential(context.Context) (slurm.Credential, error) { return v.cred, nil }
func (v viewerCredential) Invalidate()                                          {}

// liveVersionCache remembers the slurmctld API version slurmrestd offers;
// asking for its OpenAPI document on every page would cost more than the
// page.
type liveVersionCache struct {
	mu      sync.Mutex
	version string
	at      time.Time
}

func (c *liveVersionCache) get(ctx context.Context, client *slurm.Client, creds slurm.CredentialSource) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != "" && time.Since(c.at) < time.Hour {
		return c.version, nil
	}
	v, err := client.DiscoverLiveVersion(ctx, creds)
	if err != nil {
		return "", err
	}
	c.version, c.at = v, time.Now()
	return v, nil
}

// runningJobs lists the person's jobs Slurm runs or queues now on every
// cluster, read live from each slurmctld with their own token of that
// cluster, each running one priced so far (Rater.CostSoFar, the rule
// budgets count as accruing) and each pending one at its time limit.
func (s *Server) runningJobs(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	pol := s.policy(ctx)
	// Each view reads every slurmctld's whole job list: a person's views
	// within liveReuse share one read, and only liveReads run at once.
	if d, ok := s.liveSeen.get(v.SlurmUser, time.Now()); ok {
		s.render(w, r, http.StatusOK, templates.RunningJobs(s.pageWith(r, "Running now", pol), d))
		return
	}
	select {
	case s.liveSlots <- struct{}{}:
		defer func() { <-s.liveSlots }()
	default:
		d := templates.RunningData{Message: "Many people are asking Slurm what runs just now. Try again in a few seconds."}
		s.render(w, r, http.StatusServiceUnavailable, templates.RunningJobs(s.pageWith(r, "Running now", pol), d))
		return
	}
	d := templates.RunningData{Clusters: len(s.clusters) > 1}
	cards, err := s.billing.Cards(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	rater := billing.Rater{Cards: cards, Rounding: s.rounding}
	now := time.Now()
	var total billing.Micros
	currency, asked, mixed := "", 0, false
	for i, c := range s.clusters {
		cred, ok := s.clusterCredential(r, i)
		if !ok || c.Slurm == nil {
			continue
		}
		asked++
		creds := viewerCredential{cred}
		version, err := c.liveVersion.get(ctx, c.Slurm, creds)
		var ans slurm.LiveJobsAnswer
		if err == nil {
			ans, err = c.Slurm.LiveJobs(ctx, creds, version)
		}
		if err != nil {
			s.log.Warn("live job list failed", "id", requestID(ctx), "cluster", c.Name, "user", v.SlurmUser, "err", err)
			msg := "Slurm did not answer just now, so Tally cannot say what runs there. Try again in a minute."
			if errors.Is(err, slurm.ErrAuth) {
				msg = "Slurm refused your session's token (Slurm session expired). Sign out and in again."
			}
			d.Problems = append(d.Problems, clusterLabel(c.Name)+msg)
			continue
		}
		for _, j := range ans.Jobs {
			if j.User != v.SlurmUser {
				continue // slurmctld may show others' jobs; this page is the person's own
			}
			if j.Cluster == "" {
				j.Cluster = c.Name
			}
			row := templates.RunningRow{Cluster: j.Cluster, JobID: strconv.FormatInt(j.JobID, 10), Account: j.Account, Partition: j.Partition,
				State: j.State, CPUs: j.CPUs}
			for _, n := range j.GPUs {
				row.GPUs += n
			}
			if j.TimeLimit > 0 {
				row.TimeLimit = humanDuration(j.TimeLimit)
			}
			switch {
			case j.State == "RUNNING":
				row.Elapsed = humanDuration(j.Elapsed(now))
				if ch, err := rater.CostSoFar(j, now); err != nil {
					row.Cost = "no price: " + safeBillingMessage(err)
				} else {
					row.Cost = pol.Money(ch.Total, ch.Currency)
					total += ch.Total
					if currency != "" && currency != ch.Currency {
						mixed = true // no one total of two currencies
					}
					currency = ch.Currency
				}
			case j.State == "PENDING" && j.TimeLimit > 0:
				at := j
				at.Start = now.Add(-j.TimeLimit)
				if ch, err := rater.CostSoFar(at, now); err == nil {
					row.Cost = "up to " + pol.Money(ch.Total, ch.Currency) + " at its time limit"
				}
			}
			d.Rows = append(d.Rows, row)
		}
	}
	if asked == 0 {
		d.Message = "This Tally does not talk to slurmrestd with your token, so it cannot list what runs now. Your jobs appear here as soon as they end and are ingested."
	}
	sort.Slice(d.Rows, func(i, k int) bool {
		if d.Rows[i].Cluster != d.Rows[k].Cluster {
			return d.Rows[i].Cluster < d.Rows[k].Cluster
		}
		return len(d.Rows[i].JobID) > len(d.Rows[k].JobID) || (len(d.Rows[i].JobID) == len(d.Rows[k].JobID) && d.Rows[i].JobID > d.Rows[k].JobID)
	})
	if currency != "" && !mixed {
		d.Total = pol.Money(pol.Round(total, currency), currency)
	}
	d.AsOf = now.UTC().Format("15:04:05 UTC")
	if len(d.Problems) == 0 {
		s.liveSeen.put(v.SlurmUser, now, d)
	}
	s.render(w, r, http.StatusOK, templates.RunningJobs(s.pageWith(r, "Running now", pol), d))
}

// Bounds of the running-now page's reads of slurmctld.
const (
	liveReuse = 15 * time.Second
	liveReads = 4
)

// liveAnswers keeps each person's last running-now page for liveReuse.
type liveAnswers struct {
	mu   sync.Mutex
	seen map[string]liveAnswer
}

type liveAnswer struct {
	at time.Time
	d  templates.RunningData
}

func (c *liveAnswers) get(user string, now time.Time) (templates.RunningData, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.seen[user]
	if !ok || now.Sub(a.at) >= liveReuse {
		return templates.RunningData{}, false
	}
	return a.d, true
}

func (c *liveAnswers) put(user string, now time.Time, d templates.RunningData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]liveAnswer{}
	}
	for u, a := range c.seen {
		if now.Sub(a.at) >= liveReuse {
			delete(c.seen, u) // at most the people of the last liveReuse
		}
	}
	c.seen[user] = liveAnswer{now, d}
}

// clusterLabel prefixes a message with the cluster's name, when it has one.
func clusterLabel(name string) string {
	if name == "" {
		return ""
	}
	return name + ": "
}

func safeBillingMessage(err error) string {
	var be *billing.Error
	if errors.As(err, &be) {
		return be.SafeMessage()
	}
	return "the rate cards could not price it"
}
