package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tally-hpc/tally/migrations"
	"github.com/tally-hpc/tally/static"
	"github.com/tally-hpc/tally/web"
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
	if err := cfg.bind(fs, "database", "log", "http"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return usageErr("%v", err)
	}
	log := newLogger(&cfg, env)

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

	assets, err := static.New()
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{
		Version:            version(),
		CookieSecure:       cfg.CookieSecure,
		TrustProxy:         cfg.TrustProxy,
		SessionIdleTimeout: cfg.SessionIdleTimeout,
		SessionLifetime:    cfg.SessionLifetime,
		TrustedOrigins:     cfg.trustedOrigins(),
	}, web.Deps{Log: log, Pool: pool, Assets: assets, Ready: readiness(pool)})
	if err != nil {
		return usageErr("%v", err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail("cannot listen on %s: %v", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv,
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
