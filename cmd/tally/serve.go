package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/replica"
	"github.com/tally-hpc/tally/migrations"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/static"
	"github.com/tally-hpc/tally/web"
	"github.com/tally-hpc/tally/web/pamauth"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

func newLogger(cfg *Config, env *cmdEnv) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "serve", "serve [flags]\n\nServes the portal until interrupted (Ctrl-C or SIGTERM), then drains requests.")
	if err := cfg.bind(fs, "database", "log", "http", "auth", "slurm", "ingest", "billing", "budgets"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return usageErr("%v", err)
	}
	log := newLogger(&cfg, env)
	sessionKeys, err := cfg.sessionKeys()
	if err != nil {
		return fail("%v", err)
	}

	pool, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	if cfg.Migrate {
		m, err := migrations.New(pool)
		if err != nil {
			return err
		}
		rs, err := m.Up(ctx)
		m.Close()
		if err != nil {
			return fail("migrate: %v", err)
		}
		for _, r := range rs {
			log.Info("migration applied", "version", r.Version, "name", r.Name)
		}
	}

	if _, err := pamauth.ServiceFile(cfg.PAMService); err != nil {
		return fail("%v", err)
	}
	clusters, err := cfg.clusters()
	if err != nil {
		return usageErr("%v", err)
	}
	budgets, err := cfg.budgetRunner(pool, log)
	if err != nil {
		return fail("%v", err)
	}
	go budgets.Run(ctx)
	// Rating follows each cluster's ingest; one rating at a time is enough.
	rate := func(ctx context.Context) {
		sum, err := billingpg.New(pool).RateOpen(ctx, billingpg.RateOptions{Attribution: cfg.Attribution,
			Rounding: billing.Rounding(cfg.Rounding), OnlyChanged: true})
		if err != nil {
			log.Error("rating after ingest failed", "err", err)
			return
		}
		log.Info("rated open periods", "only_changed", sum.OnlyChanged, "jobs", sum.Jobs, "written", sum.Written,
			"failed", sum.Failed, "first_failure", sum.FirstFail, "took", sum.Took)
		// Budgets count what was just rated and what runs now.
		budgets.Kick()
	}
	var webClusters []web.Cluster
	type running struct {
		sched *ingest.Scheduler
		name  string
	}
	var scheds []running
	for _, cl := range clusters {
		clog := log
		if len(clusters) > 1 {
			clog = log.With("cluster", cl.Name)
		}
		parts, err := cl.slurmParts()
		if err != nil {
			return fail("%v", err)
		}
		if parts.minter == nil {
			clog.Warn("no JWT key: people can sign in, but Tally holds no Slurm token for them on this cluster")
		}
		wc := web.Cluster{Name: cl.Name, Minter: parts.minter, Slurm: parts.client, APIVersion: cl.SlurmAPIVersion}
		// Each cluster ingests on its own schedule, under its own lock; one
		// failing does not stop the others.
		if in, err := cl.ingester(pool, parts, clog, otherNames(clusters, cl)...); err != nil {
			clog.Warn("ingest disabled", "reason", err)
		} else {
			sched := ingest.NewScheduler(in, pool, cl.IngestInterval, cl.IngestOverlap, cl.Sacctmgr, clog)
			sched.After = rate
			wc.Ingest = sched
			if cl.IngestInterval > 0 {
				scheds = append(scheds, running{sched, cl.Name})
				go sched.Run(ctx)
				clog.Info("scheduled ingest", "every", cl.IngestInterval, "source", cl.Source)
			}
		}
		webClusters = append(webClusters, wc)
	}

	assets, err := static.New()
	if err != nil {
		return err
	}
	wcfg, err := cfg.webConfig()
	if err != nil {
		return usageErr("%v", err)
	}
	var reads *replica.Router
	if cfg.DatabaseReadURL != "" {
		readPool, err := openReplica(ctx, cfg.DatabaseReadURL)
		if err != nil {
			return err
		}
		defer readPool.Close()
		reads = replica.New(pool, readPool, cfg.ReadMaxLag, log)
		go reads.Run(ctx, time.Second)
		log.Info("pages read from a replica while it keeps up", "replica", redactURL(cfg.DatabaseReadURL), "max_lag", cfg.ReadMaxLag)
	}
	srv, err := web.New(wcfg, web.Deps{
		Log: log, Pool: pool, Assets: assets, Ready: readiness(pool), Reads: reads,
		Authn:       pamauth.New(cfg.PAMService, cfg.PAMTimeout, 8),
		Clusters:    webClusters,
		SessionKeys: sessionKeys,
		PDFFonts:    cfg.pdfFonts(log),
	})
	if err != nil {
		return usageErr("%v", err)
	}
	defer srv.Close()

	err = listenAndServe(ctx, &cfg, log, srv)
	for _, r := range scheds {
		// Requests are drained; let an ingest window in progress commit.
		select {
		case <-r.sched.Done():
		case <-time.After(r.sched.Grace + 5*time.Second):
			log.Warn("ingest did not stop in time", "cluster", r.name)
		}
	}
	return err
}

// listenAndServe serves h on cfg.Addr until ctx ends, then drains.
func listenAndServe(ctx context.Context, cfg *Config, log *slog.Logger, h http.Handler) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail("cannot listen on %s: %v", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // CSV exports of a busy year take a while
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	scheme := "http"
	go func() {
		if cfg.TLSCert != "" {
			errc <- hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("tally serving", "url", fmt.Sprintf("%s://%s", scheme, ln.Addr()), "version", version(), "pid", os.Getpid())

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fail("serve: %v", err)
		}
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			return fail("shutdown: %v", err)
		}
	}
	log.Info("stopped")
	return nil
}

// sessionKeys reads TALLY_SESSION_KEY_FILE; nil when it is not set, and
// the web layer then makes a key that lives as long as the process.
func (c *Config) sessionKeys() (*web.SessionKeys, error) {
	paths := splitList(c.SessionKeyFile)
	if len(paths) == 0 {
		return nil, nil
	}
	return web.LoadSessionKeys(paths...)
}

// pdfFonts loads the fonts PDFs are set in. A font that cannot be read
// is a warning, not a reason to refuse to start: without any, PDFs fall
// back to Helvetica and print non-Latin-1 names as "?".
func (c *Config) pdfFonts(log *slog.Logger) *pdfdoc.Fonts {
	fonts, problems := pdfdoc.LoadFonts(splitList(c.PDFFonts), splitList(c.PDFBoldFonts))
	for _, err := range problems {
		log.Warn("PDF font not loaded (Debian: apt-get install fonts-dejavu-core fonts-wqy-microhei)", "err", err)
	}
	if fonts == nil {
		log.Warn("no PDF font could be loaded: statements and receipts print in Helvetica, and characters outside Latin-1 as \"?\"", "pdf-fonts", c.PDFFonts)
	}
	return fonts
}

// webConfig is the web layer's part of the settings, the same for serve
// and the demo: a demo is not a reason to drop a protection.
func (c *Config) webConfig() (web.Config, error) {
	metrics, err := c.metricsAccess()
	if err != nil {
		return web.Config{}, err
	}
	proxies, err := parseNetworks("--trusted-proxies", c.TrustedProxies)
	if err != nil {
		return web.Config{}, err
	}
	api, err := c.apiConfig()
	if err != nil {
		return web.Config{}, err
	}
	return web.Config{
		API:                api,
		Metrics:            metrics,
		TrustedProxies:     proxies,
		Version:            version(),
		CookieSecure:       c.CookieSecure,
		TrustProxy:         c.TrustProxy,
		SessionIdleTimeout: c.SessionIdleTimeout,
		SessionLifetime:    c.SessionLifetime,
		TrustedOrigins:     c.trustedOrigins(),
		Auth:               c.authConfig(),
		Rounding:           billing.Rounding(c.Rounding),
		PageTimeout:        c.PageTimeout,
		ExportTimeout:      c.ExportTimeout,
		ExportsAtOnce:      c.ExportsAtOnce,
		ReadLagNotice:      c.ReadLagNotice,
	}, nil
}

// metricsAccess reads who may scrape /metrics: the networks listed and,
// when a token file is given, whoever presents its token.
func (c *Config) metricsAccess() (web.MetricsAccess, error) {
	var m web.MetricsAccess
	var err error
	if m.Networks, err = parseNetworks("--metrics-networks", c.MetricsNetworks); err != nil {
		return m, err
	}
	if c.MetricsTokenFile == "" {
		if len(m.Networks) == 0 {
			return m, fmt.Errorf("--metrics-networks is empty and no --metrics-token-file is set: nobody could read /metrics")
		}
		return m, nil
	}
	b, err := readSecretFile(c.MetricsTokenFile)
	if err != nil {
		return m, fmt.Errorf("--metrics-token-file: %v", err)
	}
	m.Token = strings.TrimSpace(string(b))
	if len(m.Token) < 16 {
		return m, fmt.Errorf("--metrics-token-file %s: the token has %d characters; use 16 or more", c.MetricsTokenFile, len(m.Token))
	}
	return m, nil
}

// parseNetworks reads a comma-separated list of networks or addresses.
func parseNetworks(flagName, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, n := range splitList(list) {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a network such as 10.0.0.0/8 or an address", flagName, n)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// readSecretFile reads a file only its owner may read: a secret that the
// group or the world can read is no longer one.
func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is mode %04o: a secret must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

func (c *Config) authConfig() web.AuthConfig {
	return web.AuthConfig{
		StripRealm:            c.StripRealm,
		AllowedRealms:         splitList(c.Realms),
		MinUID:                c.MinUID,
		RefusedUsers:          []string{c.SlurmServiceUser},
		AdminGroups:           splitList(c.AdminGroups),
		FinanceGroups:         splitList(c.FinanceGroups),
		AdminUsers:            splitList(c.AdminUsers),
		FinanceUsers:          splitList(c.FinanceUsers),
		Cluster:               c.Cluster,
		MaxFailuresPerUser:    c.LoginMaxFailures,
		MaxFailuresPerAddress: c.LoginMaxFailuresAddr,
		FailureWindow:         c.LoginFailureWindow,
		FailureFloor:          c.LoginFailureFloor,
		SlurmAPIVersion:       c.SlurmAPIVersion,
	}
}
