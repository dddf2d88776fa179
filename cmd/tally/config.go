package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting Tally reads, from flags and TALLY_* variables.
// Flags win over the environment, the environment over defaults.
type Config struct {
	DatabaseURL string
	Addr        string
	LogFormat   string
	LogLevel    string
	Migrate     bool

	TLSCert        string
	TLSKey         string
	CookieSecure   string
	TrustProxy     bool
	TrustedOrigins string

	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
}

// option describes one setting: its flag, variable, default and help. The
// README's configuration table is generated from these (make generate).
type option struct {
	group string
	flag  string
	env   string
	def   string
	help  string
	bind  func(fs *flag.FlagSet, o option)
}

func (c *Config) options() []option {
	return []option{
		{"database", "database-url", "TALLY_DATABASE_URL", "", "PostgreSQL connection URL (postgres://user:pass@host:5432/db)", strOpt(&c.DatabaseURL)},
		{"log", "log-format", "TALLY_LOG_FORMAT", "text", "log format: text or json", strOpt(&c.LogFormat)},
		{"log", "log-level", "TALLY_LOG_LEVEL", "info", "log level: debug, info, warn or error", strOpt(&c.LogLevel)},
		{"http", "addr", "TALLY_ADDR", "127.0.0.1:8080", "address to listen on", strOpt(&c.Addr)},
		{"http", "migrate", "TALLY_MIGRATE", "false", "apply pending migrations before serving", boolOpt(&c.Migrate)},
		{"http", "tls-cert", "TALLY_TLS_CERT", "", "TLS certificate file (serve HTTPS when set with --tls-key)", strOpt(&c.TLSCert)},
		{"http", "tls-key", "TALLY_TLS_KEY", "", "TLS private key file", strOpt(&c.TLSKey)},
		{"http", "cookie-secure", "TALLY_COOKIE_SECURE", "auto", "Secure cookies: auto (when the request is HTTPS), always or never", strOpt(&c.CookieSecure)},
		{"http", "trust-proxy", "TALLY_TRUST_PROXY", "false", "trust X-Forwarded-Proto and X-Forwarded-For from a reverse proxy", boolOpt(&c.TrustProxy)},
		{"http", "trusted-origins", "TALLY_TRUSTED_ORIGINS", "", "comma-separated extra origins allowed to POST (https://portal.example.org)", strOpt(&c.TrustedOrigins)},
		{"http", "session-idle-timeout", "TALLY_SESSION_IDLE_TIMEOUT", "30m", "sign out after this long without a request", durOpt(&c.SessionIdleTimeout)},
		{"http", "session-lifetime", "TALLY_SESSION_LIFETIME", "12h", "sign out this long after sign-in, whatever the activity", durOpt(&c.SessionLifetime)},
	}
}

type boundValue struct {
	set  func(string) error
	show func() string
}

func (b boundValue) Set(s string) error { return b.set(s) }
func (b boundValue) String() string {
	if b.show == nil {
		return ""
	}
	return b.show()
}

func strOpt(p *string) func(*flag.FlagSet, option) {
	return func(fs *flag.FlagSet, o option) {
		fs.Var(boundValue{set: func(s string) error { *p = s; return nil }, show: func() string { return *p }}, o.flag, o.help)
	}
}

func boolOpt(p *bool) func(*flag.FlagSet, option) {
	return func(fs *flag.FlagSet, o option) {
		fs.Var(boolValue{p}, o.flag, o.help)
	}
}

// boolValue lets "--migrate" stand alone, as flag.Bool does.
type boolValue struct{ p *bool }

func (b boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	*b.p = v
	return nil
}
func (b boolValue) String() string {
	if b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}
func (b boolValue) IsBoolFlag() bool { return true }

func durOpt(p *time.Duration) func(*flag.FlagSet, option) {
	return func(fs *flag.FlagSet, o option) {
		fs.Var(boundValue{set: func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as 30m or 12h")
			}
			*p = d
			return nil
		}, show: func() string { return p.String() }}, o.flag, o.help)
	}
}

// bind registers the options of the named groups on fs and applies defaults
// and environment values; a later fs.Parse applies flags on top.
func (c *Config) bind(fs *flag.FlagSet, groups ...string) error {
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	for _, o := range c.options() {
		if !want[o.group] {
			continue
		}
		o.bind(fs, o)
		f := fs.Lookup(o.flag)
		if err := f.Value.Set(o.def); err != nil && o.def != "" {
			return fmt.Errorf("default of --%s: %v", o.flag, err)
		}
		f.DefValue = o.def
		if v, ok := os.LookupEnv(o.env); ok {
			if err := f.Value.Set(v); err != nil {
				return fmt.Errorf("invalid %s=%q: %v", o.env, redactValue(o.env, v), err)
			}
		}
	}
	return nil
}

// validate checks values that parse but make no sense together.
func (c *Config) validate() error {
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("invalid log format %q: want text or json", c.LogFormat)
	}
	switch c.CookieSecure {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("invalid cookie-secure %q: want auto, always or never", c.CookieSecure)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key must be given together")
	}
	if c.SessionIdleTimeout <= 0 || c.SessionLifetime <= 0 {
		return fmt.Errorf("session timeouts must be positive")
	}
	return nil
}

func (c *Config) trustedOrigins() []string {
	var out []string
	for _, o := range strings.Split(c.TrustedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// redactValue hides the password of a database URL in messages.
func redactValue(env, v string) string {
	if env == "TALLY_DATABASE_URL" {
		return redactURL(v)
	}
	return v
}

// writeConfigTable prints the Markdown table in the README.
func writeConfigTable(w io.Writer) {
	var c Config
	fmt.Fprintln(w, "| Variable | Flag | Default | Meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, o := range c.options() {
		def := o.def
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "| `%s` | `--%s` | `%s` | %s |\n", o.env, o.flag, def, o.help)
	}
}
