// Package ingest pulls job records from slurmrestd, or from sacct when
// slurmrestd cannot answer, window by window into the job store.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// Config is how ingest behaves.
type Config struct {
	Cluster    string        // fills records that name none; empty keeps theirs
	Source     string        // auto, rest or sacct
	Window     time.Duration // length of one window (one transaction)
	APIVersion string        // "auto" (discover) or v0.0.NN
	Retry      slurm.Retry
	// OtherClusters are the clusters the installation reads through other
	// ingesters, each from its own slurmctld: this one's live job refresh
	// neither empties their lists (as clusters its slurmctld stopped
	// naming) nor marks them failed when its own slurmctld fails.
	OtherClusters []string
}

// Ingester runs windows through the sources into the store.
type Ingester struct {
	cfg    Config
	store  *jobstore.Store
	client *slurm.Client          // nil without slurmrestd
	creds  slurm.CredentialSource // the service identity
	sacct  *slurm.Sacct           // nil without sacct
	log    *slog.Logger

	mu          sync.Mutex
	version     string
	liveVersion string // of /slurm/vX/jobs, apart from slurmdb's
}

// New returns an Ingester. client and sacct may be nil when a site has only
// one of them; Source must then name the one it has (or auto).
func New(cfg Config, store *jobstore.Store, client *slurm.Client, creds slurm.CredentialSource, sacct *slurm.Sacct, log *slog.Logger) (*Ingester, error) {
	switch cfg.Source {
	case "", "auto":
		cfg.Source = "auto"
		if client == nil && sacct == nil {
			return nil, errors.New("ingest: neither slurmrestd nor sacct is configured")
		}
	case "rest":
		if client == nil {
			return nil, errors.New("ingest source rest needs TALLY_SLURMRESTD_URL")
		}
	case "sacct":
		if sacct == nil {
			return nil, errors.New("ingest source sacct needs TALLY_SACCT")
		}
	default:
		return nil, fmt.Errorf("ingest source %q: want auto, rest or sacct", cfg.Source)
	}
	if cfg.Window <= 0 {
		cfg.Window = 24 * time.Hour
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "auto"
	}
	if cfg.Retry.Attempts == 0 {
		cfg.Retry = slurm.DefaultRetry()
	}
	return &Ingester{cfg: cfg, store: store, client: client, creds: creds, sacct: sacct, log: log}, nil
}

// Options tune one run.
type Options struct {
	DryRun  bool
	Trigger string // schedule, cli, manual, login
	// Progress is told about every window as it finishes.
	Progress func(Report)
	// Creds replaces the service identity (a person's own token after
	// login); OnlyUser then keeps that person's records only.
	Creds    slurm.CredentialSource
	OnlyUser string
	// Source overrides the configured source for this run.
	Source string
	// Stop, once closed, ends the run after the window in progress: a
	// shutdown lets that window commit instead of throwing it away.
	Stop <-chan struct{}
}

// ErrStopped says a run ended early because Stop was closed; every window
// it reports on was committed.
var ErrStopped = errors.New("ingest stopped before the last window (shutting down)")

// Report is one finished window.
type Report struct {
	Index, Total int
	Start, End   time.Time
	Source       string
	Fallback     string // why slurmrestd was not used, when it was not
	Counts       jobstore.Counts
	Took         time.Duration
	Err          error
}

// Summary adds up a run.
type Summary struct {
	Windows int
	Counts  jobstore.Counts
	Sources map[string]int
	Took    time.Duration
}

// Windows splits [from, to) into windows of length d.
func Windows(from, to time.Time, d time.Duration) [][2]time.Time {
	var out [][2]time.Time
	for t := from; t.Before(to); t = t.Add(d) {
		end := t.Add(d)
		if end.After(to) {
			end = to
		}
		out = append(out, [2]time.Time{t, end})
	}
	return out
}

// Run ingests [from, to). It stops at the first window no source could
// serve; that window is logged as failed and nothing of it is kept.
func (in *Ingester) Run(ctx context.Context, from, to time.Time, opt Options) (Summary, error) {
	start := time.Now()
	sum := Summary{Sources: map[string]int{}}
	if !from.Before(to) {
		return sum, fmt.Errorf("empty time range %s .. %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if opt.Trigger == "" {
		opt.Trigger = "cli"
	}
	wins := Windows(from, to, in.cfg.Window)
	pacer := jobstore.NewAnalysisPacer(time.Minute)
	defer func() {
		if err := pacer.Finish(context.WithoutCancel(ctx), in.store); err != nil {
			in.log.Warn("refreshing job statistics after an ingest run", "err", err)
		}
	}()
	for i, w := range wins {
		r := in.window(ctx, w[0], w[1], opt, pacer.Defer(i == len(wins)-1))
		r.Index, r.Total = i+1, len(wins)
		sum.Windows++
		sum.Counts.Add(r.Counts)
		if r.Err == nil {
			sum.Sources[r.Source]++
		}
		if opt.Progress != nil {
			opt.Progress(r)
		}
		if r.Err != nil {
			sum.Took = time.Since(start)
			return sum, r.Err
		}
		if opt.Stop != nil && i < len(wins)-1 {
			select {
			case <-opt.Stop:
				sum.Took = time.Since(start)
				return sum, ErrStopped
			default:
			}
		}
	}
	sum.Took = time.Since(start)
	return sum, nil
}

func (in *Ingester) sources(opt Options) []string {
	mode := in.cfg.Source
	if opt.Source != "" {
		mode = opt.Source
	}
	switch mode {
	case "rest":
		return []string{"rest"}
	case "sacct":
		return []string{"sacct"}
	}
	var s []string
	if in.client != nil && (in.creds != nil || opt.Creds != nil) {
		s = append(s, "rest")
	}
	if in.sacct != nil && opt.Creds == nil { // sacct runs as the service, never as a person
		s = append(s, "sacct")
	}
	return s
}

func (in *Ingester) window(ctx context.Context, from, to time.Time, opt Options, deferAnalysis bool) Report {
	began := time.Now()
	rep := Report{Start: from, End: to}
	run := jobstore.Run{Cluster: in.cfg.Cluster, WindowStart: from, WindowEnd: to, Trigger: opt.Trigger, Started: began,
		DryRun: opt.DryRun, DeferAnalysis: deferAnalysis}
	srcs := in.sources(opt)
	var lastErr error
	for i, src := range srcs {
		w, err := in.store.Begin(ctx, src)
		if err != nil {
			rep.Err = err
			return rep
		}
		err = in.fetch(ctx, src, w, from, to, opt)
		if err == nil {
			run.Source = src
			run.FallbackReason = rep.Fallback
			c, err := w.Commit(ctx, run)
			rep.Source, rep.Counts, rep.Took = src, c, time.Since(began)
			rep.Err = err
			return rep
		}
		w.Abort()
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if i < len(srcs)-1 {
			rep.Fallback = fmt.Sprintf("%s failed: %v", src, err)
			in.log.Warn("ingest source failed, falling back", "source", src, "next", srcs[i+1],
				"window_start", from, "err", err)
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no ingest source is available")
	}
	run.Error = lastErr.Error()
	run.FallbackReason = rep.Fallback
	if err := in.store.RecordFailure(context.WithoutCancel(ctx), run); err != nil {
		in.log.Error("recording failed window", "err", err)
	}
	rep.Err = fmt.Errorf("window %s .. %s: %w", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), lastErr)
	rep.Took = time.Since(began)
	return rep
}

func (in *Ingester) fetch(ctx context.Context, src string, w *jobstore.Window, from, to time.Time, opt Options) error {
	return in.read(ctx, src, from, to, opt, func(j slurm.Job) error { return w.Add(ctx, j) },
		func(r slurm.Reject) error { w.Reject(r); return nil })
}

// read streams one source's records of a window to sink.
func (in *Ingester) read(ctx context.Context, src string, from, to time.Time, opt Options, sink func(slurm.Job) error, reject func(slurm.Reject) error) error {
	add := func(j slurm.Job) error {
		if opt.OnlyUser != "" && j.User != opt.OnlyUser {
			return nil
		}
		if j.Cluster == "" {
			j.Cluster = in.cfg.Cluster
		}
		if why := j.Implausible(); why != "" {
			return reject(slurm.Reject{Raw: j.Describe(), Err: "implausible record: " + why})
		}
		return sink(j)
	}
	switch src {
	case "rest":
		creds := in.creds
		if opt.Creds != nil {
			creds = opt.Creds
		}
		if creds == nil {
			return errors.New("no service identity for slurmrestd: set TALLY_JWT_KEY_FILE or TALLY_SLURM_SERVICE_TOKEN_FILE")
		}
		v, err := in.apiVersion(ctx, creds)
		if err != nil {
			return err
		}
		_, err = in.client.Jobs(ctx, creds, v, from, to, in.cfg.Retry, add)
		return err
	case "sacct":
		return in.sacct.Jobs(ctx, from, to, opt.OnlyUser, add, reject)
	}
	return fmt.Errorf("unknown source %q", src)
}

// Collect reads the records of [from, to) from the first source that
// answers, writing nothing: for reconciliation. It returns the source used.
func (in *Ingester) Collect(ctx context.Context, from, to time.Time, fn func(slurm.Job) error) (string, error) {
	var last error
	for _, src := range in.sources(Options{}) {
		err := in.read(ctx, src, from, to, Options{}, fn, func(r slurm.Reject) error {
			return fmt.Errorf("line %d: %s", r.Line, r.Err)
		})
		if err == nil {
			return src, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if last == nil {
		last = errors.New("no ingest source is available")
	}
	return "", last
}

// apiVersion discovers the slurmdb version once and remembers it.
func (in *Ingester) apiVersion(ctx context.Context, creds slurm.CredentialSource) (string, error) {
	if in.cfg.APIVersion != "auto" {
		return in.cfg.APIVersion, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.version != "" {
		return in.version, nil
	}
	v, err := in.client.DiscoverVersion(ctx, creds)
	if err != nil {
		return "", fmt.Errorf("finding the slurmdb API version: %w", err)
	}
	in.log.Info("slurmrestd API version", "version", v)
	in.version = v
	return v, nil
}

// StaticCredential is a CredentialSource for one fixed credential (a
// person's token, which only a new sign-in renews).
type StaticCredential struct{ Cred slurm.Credential }

// Credential returns the fixed credential.
func (s StaticCredential) Credential(context.Context) (slurm.Credential, error) { return s.Cred, nil }

// Invalidate does nothing: there is no way to renew a person's token here.
func (s StaticCredential) Invalidate() {}

// SyncAssociations refreshes who may charge which account and who
// coordinates it, from slurmrestd or else sacctmgr.
func (in *Ingester) SyncAssociations(ctx context.Context, sacctmgr string) (int, int, error) {
	var as []slurm.Association
	var cs []slurm.Coordinator
	var err error
	if in.client != nil && in.creds != nil && in.cfg.Source != "sacct" {
		var v string
		if v, err = in.apiVersion(ctx, in.creds); err == nil {
			as, cs, err = in.client.Associations(ctx, in.creds, v)
		}
		if err != nil {
			in.log.Warn("associations from slurmrestd failed, trying sacctmgr", "err", err)
		}
	}
	if as == nil && in.cfg.Source != "rest" {
		as, cs, err = slurm.SacctmgrAssociations(ctx, sacctmgr, in.cfg.Cluster)
	}
	if err != nil {
		return 0, 0, err
	}
	clusters := map[string]bool{}
	for _, a := range as {
		if a.Cluster != "" {
			clusters[a.Cluster] = true
		}
	}
	if in.cfg.Cluster != "" {
		clusters = map[string]bool{in.cfg.Cluster: true}
	}
	for c := range clusters {
		if err := in.store.ReplaceAssociations(ctx, c, as, cs); err != nil {
			return 0, 0, err
		}
	}
	return len(as), len(cs), nil
}

// ResumeFrom is where an interrupted ingest of [from, to) picks up: after
// the windows from `from` onwards that are already committed.
func (in *Ingester) ResumeFrom(ctx context.Context, from, to time.Time) (time.Time, error) {
	return in.store.CommittedUntil(ctx, in.cfg.Cluster, from, to)
}
