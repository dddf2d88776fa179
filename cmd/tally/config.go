package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// Config is every setting Tally reads, from flags and TALLY_* variables.
// Flags win over the environment, the environment over defaults.
type Config struct {
	DatabaseURL     string
	DatabaseReadURL string
	ReadLagNotice   time.Duration
	ReadMaxLag      time.Duration
	Addr            string
	LogFormat       string
	LogLevel        string
	Migrate         bool

	TLSCert        string
	TLSKey         string
	CookieSecure   string
	TrustProxy     bool
	TrustedProxies string
	TrustedOrigins string

	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	SessionKeyFile     string

	PAMService           string
	PAMTimeout           time.Duration
	StripRealm           bool
	Realms               string
	MinUID               int
	AdminGroups          string
	FinanceGroups        string
	AdminUsers           string
	FinanceUsers         string
	LoginMaxFailures     int
	LoginMaxFailuresAddr int
	LoginFailureWindow   time.Duration
	LoginFailureFloor    time.Duration
	PageTimeout          time.Duration
	ExportTimeout        time.Duration
	ExportsAtOnce        int
	PDFFonts             string
	PDFBoldFonts         string
	MetricsTokenFile     string
	MetricsNetworks      string
	APIRateLimit         int
	APICORSOrigins       string

	ConfigFile            string
	JWTKeyFile            string
	JWTAlg                string
	JWTLifetime           time.Duration
	JWTUserClaim          string
	SlurmServiceUser      string
	SlurmServiceTokenFile string
	SlurmrestdURL         string
	SlurmAPIVersion       string
	Cluster               string

	Sacct          string
	Sacctmgr       string
	SacctJWT       bool
	IngestSource   string
	IngestInterval time.Duration
	IngestWindow   time.Duration
	IngestOverlap  time.Duration

	Rounding    string
	Attribution string

	SMTPAddr            string
	SMTPFrom            string
	SMTPUsername        string
	SMTPPasswordFile    string
	MailDomain          string
	BaseURL             string
	WebhookURL          string
	WebhookSecretFile   string
	BudgetEnforce       string
	BudgetCheckInterval time.Duration
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
		{"database", "database-read-url", "TALLY_DATABASE_READ_URL", "", "a streaming replica of the database for pages (job lists, receipts, usage, CSV exports); writes, statements and the page after a person's own change use the primary (docs/scaling.md)", strOpt(&c.DatabaseReadURL)},
		{"database", "read-lag-notice", "TALLY_READ_LAG_NOTICE", "30s", "pages read from the replica say how far behind it is when more than this", durOpt(&c.ReadLagNotice)},
		{"database", "read-max-lag", "TALLY_READ_MAX_LAG", "5m", "pages read the primary while the replica is further behind than this, or unreachable", durOpt(&c.ReadMaxLag)},
		{"log", "log-format", "TALLY_LOG_FORMAT", "text", "log format: text or json", strOpt(&c.LogFormat)},
		{"log", "log-level", "TALLY_LOG_LEVEL", "info", "log level: debug, info, warn or error", strOpt(&c.LogLevel)},
		{"http", "addr", "TALLY_ADDR", "127.0.0.1:8080", "address to listen on", strOpt(&c.Addr)},
		{"http", "page-timeout", "TALLY_PAGE_TIMEOUT", "30s", "longest a page may wait for the database before a \"busy\" page (exports: --export-timeout)", durOpt(&c.PageTimeout)},
		{"http", "export-timeout", "TALLY_EXPORT_TIMEOUT", "10m", "longest a CSV or PDF export may take, query and download together", durOpt(&c.ExportTimeout)},
		{"http", "exports-at-once", "TALLY_EXPORTS_AT_ONCE", "0", "CSV or PDF exports that run together; others wait their turn up to --page-timeout (0: half the cores, at least one)", intOpt(&c.ExportsAtOnce)},
		{"http", "pdf-fonts", "TALLY_PDF_FONTS", pdfdoc.DejaVuSans + "," + pdfdoc.WenQuanYiMicroHei, "comma-separated TrueType fonts that PDF statements and receipts are set in, each character from the first that has it (Debian: fonts-dejavu-core, fonts-wqy-microhei); none readable: Helvetica, Latin-1 only", strOpt(&c.PDFFonts)},
		{"http", "pdf-bold-fonts", "TALLY_PDF_BOLD_FONTS", pdfdoc.DejaVuSansBold, "comma-separated TrueType fonts for bold PDF lines, tried before --pdf-fonts", strOpt(&c.PDFBoldFonts)},
		{"http", "metrics-token-file", "TALLY_METRICS_TOKEN_FILE", "", "file holding a bearer token that admits a scraper to /metrics (mode 0600, 16 characters or more)", strOpt(&c.MetricsTokenFile)},
		{"http", "metrics-networks", "TALLY_METRICS_NETWORKS", "127.0.0.0/8,::1/128", "comma-separated networks whose clients may read /metrics without the token (empty: none)", strOpt(&c.MetricsNetworks)},
		{"http", "migrate", "TALLY_MIGRATE", "false", "apply pending migrations before serving", boolOpt(&c.Migrate)},
		{"http", "tls-cert", "TALLY_TLS_CERT", "", "TLS certificate file (serve HTTPS when set with --tls-key)", strOpt(&c.TLSCert)},
		{"http", "tls-key", "TALLY_TLS_KEY", "", "TLS private key file", strOpt(&c.TLSKey)},
		{"http", "cookie-secure", "TALLY_COOKIE_SECURE", "auto", "Secure cookies: auto (when the request is HTTPS), always or never", strOpt(&c.CookieSecure)},
		{"http", "trust-proxy", "TALLY_TRUST_PROXY", "false", "trust X-Forwarded-Proto and X-Forwarded-For from a reverse proxy", boolOpt(&c.TrustProxy)},
		{"http", "trusted-proxies", "TALLY_TRUSTED_PROXIES", "", "with --trust-proxy: further proxies (networks) whose X-Forwarded-For hops are skipped to find the client", strOpt(&c.TrustedProxies)},
		{"http", "trusted-origins", "TALLY_TRUSTED_ORIGINS", "", "comma-separated extra origins allowed to POST (https://portal.example.org)", strOpt(&c.TrustedOrigins)},
		{"http", "api-rate-limit", "TALLY_API_RATE_LIMIT", "120", "requests per minute one API token may make, counted by each replica (0: no limit)", intOpt(&c.APIRateLimit)},
		{"http", "api-cors-origins", "TALLY_API_CORS_ORIGINS", "", "comma-separated origins whose pages may call /api/v1 from a browser with a token (https://ondemand.example.org); none by default", strOpt(&c.APICORSOrigins)},
		{"http", "session-idle-timeout", "TALLY_SESSION_IDLE_TIMEOUT", "30m", "sign out after this long without a request (to within a tenth of it, at most a minute: the stored expiry is moved on that often)", durOpt(&c.SessionIdleTimeout)},
		{"http", "session-lifetime", "TALLY_SESSION_LIFETIME", "12h", "sign out this long after sign-in, whatever the activity", durOpt(&c.SessionLifetime)},
		{"http", "session-key-file", "TALLY_SESSION_KEY_FILE", "", "file with the key that encrypts sessions at rest (AES-256-GCM): 64 hex characters, mode 0600, made by `tally keygen FILE`; a comma-separated list rotates keys (the first encrypts, all decrypt); unset: a key made at start-up, so a restart signs everyone out", strOpt(&c.SessionKeyFile)},
		{"auth", "pam-service", "TALLY_PAM_SERVICE", "tally", "PAM service (a file in /etc/pam.d) that checks passwords", strOpt(&c.PAMService)},
		{"auth", "pam-timeout", "TALLY_PAM_TIMEOUT", "10s", "give up on a PAM conversation after this long", durOpt(&c.PAMTimeout)},
		{"auth", "strip-realm", "TALLY_STRIP_REALM", "false", "map alice@EXAMPLE.ORG to Slurm user alice", boolOpt(&c.StripRealm)},
		{"auth", "realms", "TALLY_REALMS", "", "with --strip-realm: comma-separated realms whose users may sign in (others are refused)", strOpt(&c.Realms)},
		{"auth", "min-uid", "TALLY_MIN_UID", "1000", "refuse accounts with a Unix uid below this (root and system accounts; 0: no lookup)", intOpt(&c.MinUID)},
		{"auth", "admin-groups", "TALLY_ADMIN_GROUPS", "tally-admin", "comma-separated Unix groups whose members are admins", strOpt(&c.AdminGroups)},
		{"auth", "finance-groups", "TALLY_FINANCE_GROUPS", "tally-finance", "comma-separated Unix groups whose members are finance staff", strOpt(&c.FinanceGroups)},
		{"auth", "admin-users", "TALLY_ADMIN_USERS", "", "comma-separated users who are admins, besides the groups", strOpt(&c.AdminUsers)},
		{"auth", "finance-users", "TALLY_FINANCE_USERS", "", "comma-separated users who are finance staff, besides the groups", strOpt(&c.FinanceUsers)},
		{"auth", "login-max-failures", "TALLY_LOGIN_MAX_FAILURES", "5", "failed sign-ins per user name before a pause", intOpt(&c.LoginMaxFailures)},
		{"auth", "login-max-failures-per-address", "TALLY_LOGIN_MAX_FAILURES_PER_ADDRESS", "20", "failed sign-ins per client address before a pause", intOpt(&c.LoginMaxFailuresAddr)},
		{"auth", "login-failure-window", "TALLY_LOGIN_FAILURE_WINDOW", "15m", "how long failed sign-ins count", durOpt(&c.LoginFailureWindow)},
		{"auth", "login-failure-floor", "TALLY_LOGIN_FAILURE_FLOOR", "1s", "least time a refused sign-in takes (hides whether the user exists)", durOpt(&c.LoginFailureFloor)},
		{"slurm", "config", "TALLY_CONFIG", "", "YAML file listing several clusters (README: Several clusters); without it the settings below describe one cluster, and in it they are each cluster's defaults", strOpt(&c.ConfigFile)},
		{"slurm", "jwt-key-file", "TALLY_JWT_KEY_FILE", "", "Slurm's jwt_key (HS256) or a PEM private key (RS256); mode 0600", strOpt(&c.JWTKeyFile)},
		{"slurm", "jwt-alg", "TALLY_JWT_ALG", "HS256", "token signature: HS256 or RS256", strOpt(&c.JWTAlg)},
		{"slurm", "jwt-lifetime", "TALLY_JWT_LIFETIME", "15m", "lifetime of the Slurm tokens Tally mints", durOpt(&c.JWTLifetime)},
		{"slurm", "jwt-user-claim", "TALLY_JWT_USER_CLAIM", "sun", "claim holding the user name (Slurm's userclaimfield)", strOpt(&c.JWTUserClaim)},
		{"slurm", "slurm-service-user", "TALLY_SLURM_SERVICE_USER", "tally", "Slurm account (AdminLevel=Operator) that ingest runs as", strOpt(&c.SlurmServiceUser)},
		{"slurm", "slurm-service-token-file", "TALLY_SLURM_SERVICE_TOKEN_FILE", "", "read the service token from this file instead of minting it", strOpt(&c.SlurmServiceTokenFile)},
		{"slurm", "slurmrestd-url", "TALLY_SLURMRESTD_URL", "", "slurmrestd base URL (http://127.0.0.1:6820)", strOpt(&c.SlurmrestdURL)},
		{"slurm", "slurm-api-version", "TALLY_SLURM_API_VERSION", "auto", "slurmdb API version: auto (newest offered) or v0.0.36 ... v0.0.44", strOpt(&c.SlurmAPIVersion)},
		{"slurm", "cluster", "TALLY_CLUSTER", "", "Slurm cluster name (empty: any)", strOpt(&c.Cluster)},
		{"ingest", "sacct", "TALLY_SACCT", "sacct", "path of the sacct binary (fallback source)", strOpt(&c.Sacct)},
		{"ingest", "sacctmgr", "TALLY_SACCTMGR", "sacctmgr", "path of sacctmgr (associations when slurmrestd is not used)", strOpt(&c.Sacctmgr)},
		{"ingest", "sacct-jwt", "TALLY_SACCT_JWT", "false", "pass the service token to sacct in SLURM_JWT", boolOpt(&c.SacctJWT)},
		{"ingest", "ingest-source", "TALLY_INGEST_SOURCE", "auto", "where records come from: auto (slurmrestd, else sacct), rest or sacct", strOpt(&c.IngestSource)},
		{"ingest", "ingest-interval", "TALLY_INGEST_INTERVAL", "10m", "how often serve ingests new records (0 turns it off)", durOpt(&c.IngestInterval)},
		{"ingest", "ingest-window", "TALLY_INGEST_WINDOW", "24h", "length of one ingest window (one transaction)", durOpt(&c.IngestWindow)},
		{"billing", "rounding", "TALLY_ROUNDING", "half-up", "how statement lines round to the currency's minor unit: half-up or half-even", strOpt(&c.Rounding)},
		{"billing", "attribution", "TALLY_ATTRIBUTION", "end", "which period a job is charged in: end (where it ended) or split (by wall-clock overlap)", strOpt(&c.Attribution)},
		{"ingest", "ingest-overlap", "TALLY_INGEST_OVERLAP", "1h", "how far back each scheduled ingest re-reads, to catch jobs that ended", durOpt(&c.IngestOverlap)},
		{"budgets", "smtp-addr", "TALLY_SMTP_ADDR", "", "SMTP server (host:port) that budget alerts are emailed through; empty: no email (alerts are still recorded and shown)", strOpt(&c.SMTPAddr)},
		{"budgets", "smtp-from", "TALLY_SMTP_FROM", "", "sender of budget alerts (Tally <tally@example.org>); needed with --smtp-addr", strOpt(&c.SMTPFrom)},
		{"budgets", "smtp-username", "TALLY_SMTP_USERNAME", "", "SMTP user name (AUTH PLAIN, only over STARTTLS or to this machine); empty: no authentication", strOpt(&c.SMTPUsername)},
		{"budgets", "smtp-password-file", "TALLY_SMTP_PASSWORD_FILE", "", "file holding the SMTP password (mode 0600)", strOpt(&c.SMTPPasswordFile)},
		{"budgets", "mail-domain", "TALLY_MAIL_DOMAIN", "", "alerts go to <user>@this domain for coordinators (and a PI field holding a user name); a PI field holding an address is used as is", strOpt(&c.MailDomain)},
		{"budgets", "base-url", "TALLY_BASE_URL", "", "the portal's public URL (https://tally.example.org), for links in alerts", strOpt(&c.BaseURL)},
		{"budgets", "alert-webhook-url", "TALLY_ALERT_WEBHOOK_URL", "", "URL that budget alerts are POSTed to as JSON; empty: no webhook", strOpt(&c.WebhookURL)},
		{"budgets", "alert-webhook-secret-file", "TALLY_ALERT_WEBHOOK_SECRET_FILE", "", "file holding the secret that signs webhook posts (X-Tally-Signature: sha256=HMAC; mode 0600)", strOpt(&c.WebhookSecretFile)},
		{"budgets", "budget-enforce", "TALLY_BUDGET_ENFORCE", "off", "hold accounts whose enforced budget is spent (sacctmgr GrpSubmitJobs=0; needs --cluster): off, dry-run (log and audit only) or on", strOpt(&c.BudgetEnforce)},
		{"budgets", "budget-check-interval", "TALLY_BUDGET_CHECK_INTERVAL", "10m", "how often serve checks budgets for alerts and holds, besides after each scheduled ingest (0: only then)", durOpt(&c.BudgetCheckInterval)},
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

func intOpt(p *int) func(*flag.FlagSet, option) {
	return func(fs *flag.FlagSet, o option) {
		fs.Var(boundValue{set: func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("want a whole number, 0 or more")
			}
			*p = n
			return nil
		}, show: func() string { return strconv.Itoa(*p) }}, o.flag, o.help)
	}
}

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
	if _, err := billing.ParseRounding(c.Rounding); c.Rounding != "" && err != nil {
		return err
	}
	if c.Attribution != "" && c.Attribution != "end" && c.Attribution != "split" {
		return fmt.Errorf("invalid attribution %q: want end or split", c.Attribution)
	}
	if c.JWTAlg != "" && c.JWTAlg != "HS256" && c.JWTAlg != "RS256" {
		return fmt.Errorf("invalid jwt-alg %q: want HS256 or RS256", c.JWTAlg)
	}
	if c.SessionIdleTimeout <= 0 || c.SessionLifetime <= 0 {
		return fmt.Errorf("session timeouts must be positive")
	}
	if c.StripRealm && len(splitList(c.Realms)) == 0 {
		return fmt.Errorf("--strip-realm needs --realms: the realms whose users may sign in (any other realm would otherwise map onto a local name)")
	}
	if c.MinUID < 0 {
		return fmt.Errorf("--min-uid must be 0 or more")
	}
	if err := c.validateBudgets(); err != nil {
		return err
	}
	if strings.TrimSpace(c.SessionKeyFile) != "" && len(splitList(c.SessionKeyFile)) == 0 {
		return fmt.Errorf("invalid session-key-file %q: want a file, or a comma-separated list of files", c.SessionKeyFile)
	}
	return nil
}

func (c *Config) trustedOrigins() []string { return splitList(c.TrustedOrigins) }

// splitList reads a comma-separated setting.
func splitList(v string) []string {
	var out []string
	for _, o := range strings.Split(v, ",") {
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
