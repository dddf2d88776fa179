package main

import (
	"strings"
	"testing"
)

func TestValidateBudgetSettings(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		wantErr string
	}{
		{"nothing set", func(c *Config) {}, ""},
		{"email", func(c *Config) {
			c.SMTPAddr, c.SMTPFrom, c.MailDomain, c.BaseURL = "mail.example.org:587", "Tally <tally@example.org>", "example.org", "https://tally.example.org"
		}, ""},
		{"enforcement on a cluster", func(c *Config) { c.BudgetEnforce, c.Cluster = "on", "testbed" }, ""},
		{"enforcement without a cluster", func(c *Config) { c.BudgetEnforce = "dry-run" }, "needs --cluster"},
		{"unknown mode", func(c *Config) { c.BudgetEnforce = "yes" }, "want off, dry-run or on"},
		{"smtp without from", func(c *Config) { c.SMTPAddr = "mail.example.org:25" }, "needs --smtp-from"},
		{"smtp without port", func(c *Config) { c.SMTPAddr, c.SMTPFrom = "mail.example.org", "t@example.org" }, "want host:port"},
		{"user without password", func(c *Config) { c.SMTPUsername = "tally" }, "needs --smtp-password-file"},
		{"domain with @", func(c *Config) { c.MailDomain = "@example.org" }, "invalid mail-domain"},
		{"webhook not http", func(c *Config) { c.WebhookURL = "ftp://x.example.org/" }, "want an http(s) URL"},
		{"secret without webhook", func(c *Config) { c.WebhookSecretFile = "/etc/tally/hook" }, "needs --alert-webhook-url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			tc.set(&c)
			err := c.validateBudgets()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
