package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/audit"
	"github.com/tally-hpc/tally/internal/budgetwatch"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// validateBudgets checks the budgets group (zero values, as in commands
// that do not bind it, are valid: no email, no webhook, no enforcement).
func (c *Config) validateBudgets() error {
	if _, err := budgetwatch.ParseEnforcement(c.BudgetEnforce); err != nil {
		return err
	}
	if e := c.BudgetEnforce; (e == "on" || e == "dry-run") && c.Cluster == "" {
		return fmt.Errorf("--budget-enforce=%s needs --cluster: holds are placed on one cluster's associations", e)
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			return fmt.Errorf("invalid smtp-addr %q: want host:port (mail.example.org:587)", c.SMTPAddr)
		}
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			return fmt.Errorf("--smtp-addr needs --smtp-from, an address (Tally <tally@example.org>): %q: %v", c.SMTPFrom, err)
		}
	}
	if c.SMTPUsername != "" && c.SMTPPasswordFile == "" {
		return fmt.Errorf("--smtp-username needs --smtp-password-file")
	}
	if d := c.MailDomain; d != "" && (strings.ContainsAny(d, "@ <>,;") || !strings.Contains(d, ".") && d != "localhost") {
		return fmt.Errorf("invalid mail-domain %q: want a domain such as example.org", d)
	}
	for _, u := range []struct{ flag, v string }{{"base-url", c.BaseURL}, {"alert-webhook-url", c.WebhookURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("invalid %s %q: want an http(s) URL", u.flag, u.v)
		}
	}
	if c.WebhookSecretFile != "" && c.WebhookURL == "" {
		return fmt.Errorf("--alert-webhook-secret-file needs --alert-webhook-url")
	}
	return nil
}

// budgetRunner wires the budget watcher and the alert sender from the
// settings: the running jobs from the live job list ingest refreshes,
// holds with sacctmgr on --cluster, email and webhook when set.
func (c *Config) budgetRunner(pool *pgxpool.Pool, log *slog.Logger) (*budgetwatch.Runner, error) {
	enforce, err := budgetwatch.ParseEnforcement(c.BudgetEnforce)
	if err != nil {
		return nil, err
	}
	store := billingpg.New(pool)
	w := &budgetwatch.Watcher{
		Store: store, Audit: audit.New(pool), Rounding: billing.Rounding(c.Rounding),
		// Every cluster's running jobs, as the pages count them: a budget
		// belongs to an account, whichever cluster it runs on.
		Running: func(ctx context.Context) ([]billing.RunningJob, error) {
			return jobstore.LiveJobs(ctx, pool, "", nil, "")
		},
		Webhook: c.WebhookURL != "", BaseURL: c.BaseURL,
		Enforce: enforce, Cluster: c.Cluster, Slurm: slurm.AccountLimits{Path: c.Sacctmgr},
		Log: log.With("component", "budgets"),
	}
	s := &budgetwatch.Sender{Outbox: store, Log: w.Log}
	if c.SMTPAddr != "" {
		w.Recipients = budgetwatch.MailRecipients(c.MailDomain)
		s.Mailer = &budgetwatch.Mailer{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername}
		if c.SMTPPasswordFile != "" {
			b, err := readSecretFile(c.SMTPPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--smtp-password-file: %v", err)
			}
			s.Mailer.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	if c.WebhookURL != "" {
		s.Webhook = &budgetwatch.Webhook{URL: c.WebhookURL}
		if c.WebhookSecretFile != "" {
			b, err := readSecretFile(c.WebhookSecretFile)
			if err != nil {
				return nil, fmt.Errorf("--alert-webhook-secret-file: %v", err)
			}
			s.Webhook.Secret = []byte(strings.TrimSpace(string(b)))
			if len(s.Webhook.Secret) < 16 {
				return nil, fmt.Errorf("--alert-webhook-secret-file %s: the secret has %d characters; use 16 or more", c.WebhookSecretFile, len(s.Webhook.Secret))
			}
		}
	}
	if c.SMTPAddr == "" && c.WebhookURL == "" {
		log.Info("budget alerts are recorded and shown, not sent: no --smtp-addr and no --alert-webhook-url")
	}
	if enforce != budgetwatch.EnforceOff {
		log.Warn("budget enforcement is "+string(enforce), "cluster", c.Cluster, "sacctmgr", c.Sacctmgr)
	}
	return budgetwatch.NewRunner(w, s, c.BudgetCheckInterval, w.Log), nil
}
