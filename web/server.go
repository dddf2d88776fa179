// Package web is Tally's HTTP layer: routing, middleware, sessions,
// authorisation and thin handlers that call into the domain packages.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/audit"
	"github.com/tally-hpc/tally/internal/replica"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/static"
	"github.com/tally-hpc/tally/web/pdfdoc"
)

// Config is the part of Tally's configuration the web layer needs.
type Config struct {
	Version      string
	CookieSecure string // auto, always or never
	TrustProxy   bool
	// TrustedProxies are further proxies (a CDN, a second balancer) whose
	// X-Forwarded-For hops are skipped to find the client.
	TrustedProxies     []netip.Prefix
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	TrustedOrigins     []string
	Auth               AuthConfig
	Rounding           billing.Rounding // statement lines; half-up when empty
	// ReadLagNotice: a page read from the replica says how far behind
	// it is when more than this (zero: always).
	ReadLagNotice time.Duration
	// PageTimeout bounds every request but exports (which stream for as
	// long as they need): waiting for a database connection or a query
	// past it gives a "busy" page instead of a hung browser. 0: no bound.
	PageTimeout time.Duration
	// ExportTimeout bounds a CSV or PDF export, query and streaming
	// together. 0: no bound.
	ExportTimeout time.Duration
	// ExportsAtOnce is how many exports run together; the others wait
	// for a turn, up to PageTimeout (exportGate). 0: half the cores, at
	// least one.
	ExportsAtOnce int
	// Metrics says who may scrape /metrics (loopback only when empty).
	Metrics MetricsAccess
	// API is the JSON API's rate limit and allowed browser origins.
	API APIConfig
}

// Deps are the collaborators the server is built from.
type Deps struct {
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	Assets *static.Assets
	// Ready reports whether the service can do useful work (database
	// reachable, schema current); nil error means ready.
	Ready func(ctx context.Context) error
	// Authn checks passwords (PAM).
	Authn Authenticator
	// Minter signs users' Slurm tokens; nil when no key is configured.
	Minter *slurm.Minter
	// Slurm is the slurmrestd client; nil when none is configured.
	Slurm *slurm.Client
	// Ingest controls background ingest; nil when not configured.
	Ingest IngestControl
	// Clusters, when set, are every cluster Tally reads (Minter, Slurm and
	// Ingest are then ignored); when empty, those three describe one.
	Clusters []Cluster
	// Billing is the store of rate cards, charges and periods.
	Billing *billingpg.Store
	// Reads, when set, lets pages read from a streaming replica.
	Reads *replica.Router
	// SessionKeys seal session rows in PostgreSQL. Nil: a key made here
	// and held only in memory, so a restart signs everyone out and
	// replicas do not share sessions.
	SessionKeys *SessionKeys
	// PDFFonts set statements and receipts; nil: Helvetica, which
	// prints Latin-1 only.
	PDFFonts *pdfdoc.Fonts
}

// Server is the HTTP application.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	assets   *static.Assets
	ready    func(ctx context.Context) error
	auth     AuthConfig
	authn    Authenticator
	minter   *slurm.Minter
	slurm    *slurm.Client
	ingest   IngestControl
	billing  billingStore
	events   auditLog
	rounding billing.Rounding
	sessions *scs.SessionManager
	metrics  *Metrics
	mux      *http.ServeMux
	patterns []string // every route handle registered, for the authorisation matrix test
	store    *sessionStore
	handler  http.Handler
	tokens   tokenStore // personal API tokens
	api      *apiState  // the API's per-token limits and resolved owners
	// clusters are the Slurm clusters; minter, slurm and ingest are the
	// first's, for pages about one cluster.
	clusters []*clusterState
	reads    *replica.Router // nil: no read replica
	// liveSeen and liveSlots bound the running-now page's live reads.
	liveSeen  liveAnswers
	liveSlots chan struct{}
	// exportSlots are the turns of exports running (exportGate).
	exportSlots chan struct{}
	pdf         *pdfdoc.Fonts // nil: Helvetica
}

// billingStore is everything the pages ask of billing's storage, one
// small interface per feature, each declared beside the handlers that use
// it (billingpg.Store provides them all).
type billingStore interface {
	cardStore
	periodStore
	reportStore
	exportStore
	budgetStore
}

// New builds the server and its routes.
func New(cfg Config, d Deps) (*Server, error) {
	s := &Server{
		cfg:     cfg,
		log:     d.Log,
		pool:    d.Pool,
		assets:  d.Assets,
		ready:   d.Ready,
		auth:    cfg.Auth,
		authn:   d.Authn,
		metrics: NewMetrics(),
		mux:     http.NewServeMux(),
		reads:   d.Reads,
		pdf:     d.PDFFonts,
	}
	s.setClusters(d)
	s.liveSlots = make(chan struct{}, liveReads)
	s.exportSlots = make(chan struct{}, exportsAtOnce(cfg.ExportsAtOnce))
	s.events = audit.New(d.Pool)
	s.tokens = pgTokenStore{pool: d.Pool}
	s.api = newAPIState(cfg.API)
	s.billing = billingpg.New(d.Pool)
	if d.Billing != nil {
		s.billing = d.Billing
	}
	if s.cfg.Metrics.Token == "" && len(s.cfg.Metrics.Networks) == 0 {
		s.cfg.Metrics.Networks = loopbackOnly()
	}
	s.rounding = cfg.Rounding
	if s.rounding == "" {
		s.rounding = billing.HalfUp
	}
	keys := d.SessionKeys
	if keys == nil {
		var err error
		if keys, err = NewEphemeralSessionKeys(); err != nil {
			return nil, err
		}
		s.log.Warn("no TALLY_SESSION_KEY_FILE: sessions are sealed with a key made at start-up and held in memory; " +
			"everyone signs in again after a restart, and replicas do not share sessions")
	}
	s.store = newSessionStore(d.Pool, keys, 10*time.Minute, cfg.SessionIdleTimeout, s.log)
	s.sessions = newSessionManager(cfg, s.store)
	s.sessions.ErrorFunc = s.serverError
	s.metrics.AddGauges(poolGauges(d.Pool))
	var names []string
	for _, c := range s.clusters {
		names = append(names, c.Name)
	}
	s.metrics.AddGauges(ingestGauges(d.Pool, names))
	s.routes()

	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("cross-origin request refused", "id", requestID(r.Context()), "method", r.Method,
			"path", r.URL.Path, "origin", r.Header.Get("Origin"))
		s.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site, so Tally refused it. Reload the page and try again.")
	}))

	// Outermost last. secureCookies must wrap the writer scs sets its
	// cookie on; sessionLoaded marks contexts in which the session may be read.
	var h http.Handler = s.mux
	h = cop.Handler(h)
	h = s.routeReads(h)
	h = s.checkedInput(h)
	h = sessionLoaded(h)
	h = s.sessions.LoadAndSave(h)
	h = s.secureCookies(h)
	// /api takes bearer tokens, never the session cookie (apiEntry).
	h = splitAPI(s.apiEntry(s.mux), h)
	h = s.securityHeaders(h)
	h = s.recoverPanics(h)
	h = oneCardRead(h)
	h = s.exportGate(h) // waiting for a turn counts against the export's deadline
	h = s.deadline(h)
	h = s.observe(h)
	s.handler = h
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops background work (the session cleanup goroutine).
func (s *Server) Close() { s.store.Close() }

// handle registers a route and records its pattern for logs and metrics.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if ri, ok := r.Context().Value(routeKey).(*routeInfo); ok {
			ri.pattern = pattern
		}
		h(w, r)
	})
}

func (s *Server) routes() {
	s.mux.Handle("GET "+static.Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri, ok := r.Context().Value(routeKey).(*routeInfo); ok {
			ri.pattern = "GET " + static.Prefix
		}
		s.assets.ServeHTTP(w, r)
	}))
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", s.metricsHandler)
	s.handle("GET /{$}", s.home)
	s.handle("GET /login", s.loginPage)
	s.handle("POST /login", s.login)
	s.handle("POST /logout", s.logout)

	s.handle("GET /me", s.signedIn(s.me))
	s.handle("POST /refresh", s.signedIn(s.refresh))
	s.handle("GET /jobs", s.signedIn(s.jobs))
	s.handle("GET /jobs.csv", s.signedIn(s.jobsCSV))
	s.handle("GET /jobs/running", s.signedIn(s.runningJobs))
	s.handle("GET /jobs/{id}", s.signedIn(s.receipt))
	s.handle("GET /jobs/{id}/receipt.pdf", s.signedIn(s.receiptPDF))
	// A receipt by Slurm's name for the job. ServeMux gives a request to
	// the most specific pattern that matches, so /jobs/running and
	// /jobs/{id}/receipt.pdf keep theirs: /jobs/running has two segments,
	// and receipt.pdf as a literal beats {slurmid}.
	s.handle("GET /jobs/{cluster}/{slurmid}", s.signedIn(s.receipt))
	s.handle("GET /jobs/{cluster}/{slurmid}/receipt.pdf", s.signedIn(s.receiptPDF))
	s.handle("GET /estimate", s.signedIn(s.estimate))
	s.handle("GET /prices", s.signedIn(s.prices))
	s.handle("GET /accounts", s.anyRole(s.accountsPage, RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /accounts/{account}", s.anyRole(s.accountPage, RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /statements", s.signedIn(s.myStatements))
	s.handle("GET /statements/{period}/{user}", s.signedIn(s.userStatement))
	s.handle("GET /periods", s.anyRole(s.periods, RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /periods/{name}", s.anyRole(s.periodPage, RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("POST /periods/{name}/close", s.anyRole(s.closePeriod, RoleAdmin))
	s.handle("POST /periods/{name}/preview", s.anyRole(s.recordPreview, RoleAdmin, RoleFinance))
	s.handle("GET /periods/{name}/accounts.csv", s.anyRole(s.periodCSV("accounts"), RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /periods/{name}/jobs.csv", s.anyRole(s.periodCSV("jobs"), RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /periods/{name}/adjustments.csv", s.anyRole(s.periodCSV("adjustments"), RoleCoordinator, RoleAdmin, RoleFinance))
	// The same exports under /finance, where finance looks for them.
	s.handle("GET /finance/{name}/accounts.csv", s.anyRole(s.periodCSV("accounts"), RoleAdmin, RoleFinance))
	s.handle("GET /finance/{name}/jobs.csv", s.anyRole(s.periodCSV("jobs"), RoleAdmin, RoleFinance))
	s.handle("GET /finance/{name}/adjustments.csv", s.anyRole(s.periodCSV("adjustments"), RoleAdmin, RoleFinance))
	s.handle("GET /periods/{name}/adjustments", s.anyRole(s.adjustmentsPage, RoleAdmin))
	s.handle("POST /periods/{name}/adjustments", s.anyRole(s.addAdjustment, RoleAdmin))
	s.handle("GET /periods/{name}/statement.pdf", s.anyRole(s.statementPDF, RoleCoordinator, RoleAdmin, RoleFinance))
	s.handle("GET /admin/accounts", s.anyRole(s.accountsAdmin, RoleAdmin))
	s.handle("POST /admin/accounts/{account}", s.anyRole(s.saveAccount, RoleAdmin))
	s.handle("GET /admin/rates", s.anyRole(s.rateCards, RoleAdmin))
	s.handle("POST /admin/rates", s.anyRole(s.addRateCard, RoleAdmin))
	s.handle("GET /finance", s.anyRole(s.finance, RoleFinance, RoleAdmin))
	s.handle("GET /admin/audit", s.anyRole(s.audit, RoleAdmin))
	s.handle("GET /admin/users", s.anyRole(s.users, RoleAdmin))
	s.handle("GET /admin/budgets", s.anyRole(s.budgetsAdmin, RoleAdmin))
	s.handle("POST /admin/budgets", s.anyRole(s.saveBudget, RoleAdmin))
	s.handle("POST /admin/budgets/{id}/delete", s.anyRole(s.deleteBudget, RoleAdmin))
	s.handle("GET /finance/budgets.csv", s.anyRole(s.budgetsCSV, RoleAdmin, RoleFinance))
	s.handle("GET /admin/ingest", s.anyRole(s.ingestPage, RoleAdmin))
	s.handle("POST /admin/ingest", s.anyRole(s.ingestNow, RoleAdmin))
	s.handle("GET /admin/ingest/live", s.anyRole(s.ingestLive, RoleAdmin))
	s.registerAPI() // /api/v1 (api_routes.go) and the token pages
	s.handle("/", s.notFound)
}
