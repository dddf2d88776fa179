package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// LiveSummary is what one refresh of the live job list stored.
type LiveSummary struct {
	Jobs     int            // stored, all clusters
	Clusters map[string]int // stored per cluster
	Ended    int            // finished jobs slurmctld still listed, left to ingest
	Rejects  []slurm.Reject // records that could not be read
}

// maxLoggedRejects bounds the unreadable live records logged one by one
// per refresh; the count is always logged.
const maxLoggedRejects = 20

// RefreshLive reads slurmctld's live job list with the service identity
// and stores it, replacing each cluster's: the accruing cost of budgets.
// When it cannot be read the stored jobs stay (the last known) and the
// error is recorded beside them, for the clusters Tally knows to be this
// slurmctld's.
func (in *Ingester) RefreshLive(ctx context.Context, now time.Time) (LiveSummary, error) {
	if in.client == nil || in.creds == nil {
		return LiveSummary{}, errors.New("the live job list needs slurmrestd and the service identity (TALLY_SLURMRESTD_URL and TALLY_JWT_KEY_FILE or TALLY_SLURM_SERVICE_TOKEN_FILE)")
	}
	known, err := jobstore.LiveRefreshes(ctx, in.store.Pool())
	if err != nil {
		return LiveSummary{}, err
	}
	ans, err := in.readLive(ctx)
	if err != nil {
		in.recordLiveFailure(ctx, known, now, err)
		return LiveSummary{}, err
	}
	for i, r := range ans.Rejects {
		if i == maxLoggedRejects {
			in.log.Warn("more live job records could not be read", "more", len(ans.Rejects)-i)
			break
		}
		in.log.Warn("live job record could not be read; it is not counted", "record", r.Line, "err", r.Err, "raw", r.Raw)
	}
	for _, w := range ans.Warnings {
		in.log.Info("slurmrestd warns about the live job list", "warning", w)
	}

	// slurmctld serves one cluster, named by the answer or else by the
	// configuration. Every cluster stored before is replaced too, so a
	// cluster whose last job ended (a federation sibling, or the home
	// cluster of a 22.05 slurmctld with nothing running) is emptied rather
	// than left with the jobs it had.
	home := ans.Cluster
	if home == "" {
		home = in.cfg.Cluster
	}
	byCluster := map[string][]billing.RunningJob{}
	if home != "" {
		byCluster[home] = nil
	}
	for _, k := range known {
		if _, ok := byCluster[k.Cluster]; !ok && !slices.Contains(in.cfg.OtherClusters, k.Cluster) {
			byCluster[k.Cluster] = nil
		}
	}
	for _, j := range ans.Jobs {
		if j.Cluster == "" {
			j.Cluster = home
		}
		byCluster[j.Cluster] = append(byCluster[j.Cluster], j)
	}
	sum := LiveSummary{Clusters: map[string]int{}, Ended: ans.Ended, Rejects: ans.Rejects}
	clusters := make([]string, 0, len(byCluster))
	for c := range byCluster {
		clusters = append(clusters, c)
	}
	slices.Sort(clusters)
	for _, c := range clusters {
		if err := in.store.ReplaceLiveJobs(ctx, c, byCluster[c], now, ""); err != nil {
			return sum, err
		}
		sum.Clusters[c] = len(byCluster[c])
		sum.Jobs += len(byCluster[c])
	}
	return sum, nil
}

// readLive reads the list at the slurmctld version discovered (or
// configured: a pinned version names both APIs, which Slurm releases
// version together).
func (in *Ingester) readLive(ctx context.Context) (slurm.LiveJobsAnswer, error) {
	v, err := in.liveAPIVersion(ctx)
	if err != nil {
		return slurm.LiveJobsAnswer{}, err
	}
	ans, err := in.client.LiveJobs(ctx, in.creds, v)
	var re *slurm.ResponseError
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		// slurmrestd was upgraded and dropped the version: find it anew
		// next time.
		in.mu.Lock()
		in.liveVersion = ""
		in.mu.Unlock()
	}
	return ans, err
}

func (in *Ingester) liveAPIVersion(ctx context.Context) (string, error) {
	if in.cfg.APIVersion != "auto" {
		return in.cfg.APIVersion, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.liveVersion != "" {
		return in.liveVersion, nil
	}
	v, err := in.client.DiscoverLiveVersion(ctx, in.creds)
	if err != nil {
		return "", fmt.Errorf("finding the slurmctld API version: %w", err)
	}
	in.log.Info("slurmrestd slurmctld API version", "version", v)
	in.liveVersion = v
	return v, nil
}

// recordLiveFailure notes a failed refresh beside each cluster's last
// known jobs. With no cluster configured and none read before there is
// nowhere to note it; the log has it.
func (in *Ingester) recordLiveFailure(ctx context.Context, known []jobstore.LiveRefresh, now time.Time, cause error) {
	clusters := map[string]bool{}
	if in.cfg.Cluster != "" {
		clusters[in.cfg.Cluster] = true
	}
	for _, k := range known {
		if !slices.Contains(in.cfg.OtherClusters, k.Cluster) {
			clusters[k.Cluster] = true
		}
	}
	for c := range clusters {
		if err := in.store.ReplaceLiveJobs(context.WithoutCancel(ctx), c, nil, now, cause.Error()); err != nil {
			in.log.Error("recording the failed live jobs refresh", "cluster", c, "err", err)
		}
	}
}
