package budgetwatch

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/audit"
	"github.com/tally-hpc/tally/internal/pgtest"
)

// now is mid-November; budgets run over November.
var now = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t       *testing.T
	url     string
	pool    *pgxpool.Pool
	store   *billingpg.Store
	mu      sync.Mutex
	running []billing.RunningJob
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, url: pgtest.NewURL(t)}
	f.pool = f.open()
	f.store = billingpg.New(f.pool)
	f.exec(`INSERT INTO slurm_coordinators (cluster, account, username) VALUES ('testbed', 'physics', 'dave'), ('testbed', 'physics', 'carol'),
		('other', 'physics', 'carol')`)
	f.exec(`INSERT INTO account_details (account, pi) VALUES ('physics', 'Ada.Lovelace@Uni.Example')`)
	return f
}

// open is a new pool on the fixture's database: a restarted Tally.
func (f *fixture) open() *pgxpool.Pool {
	pool, err := pgxpool.New(context.Background(), f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(pool.Close)
	return pool
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatal(err)
	}
}

// budget stores a core-hours budget over November.
func (f *fixture) budget(account string, hours int64, enforce bool) billing.Budget {
	f.t.Helper()
	b, _, err := f.store.SetBudget(context.Background(), billing.Budget{Account: account, Unit: billing.UnitCoreHours, Amount: hours * 3600,
		Starts: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Ends: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Enforce: enforce, UpdatedBy: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) topUp(b billing.Budget, hours int64) billing.Budget {
	f.t.Helper()
	b.Amount = hours * 3600
	b, _, err := f.store.SetBudget(context.Background(), b)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// run sets what Slurm runs now: one job per account using cpus for an hour.
func (f *fixture) run(account string, cpus int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = slices.DeleteFunc(f.running, func(j billing.RunningJob) bool { return j.Account == account })
	f.running = append(f.running, billing.RunningJob{Cluster: "testbed", JobID: int64(len(f.running) + 1), User: "alice", Account: account,
		Partition: "cpu", QOS: "normal", State: "RUNNING", Start: now.Add(-time.Hour), CPUs: cpus, Nodes: 1})
}

func (f *fixture) watcher(store *billingpg.Store, mutate func(*Watcher)) *Watcher {
	w := &Watcher{Store: store, Audit: audit.New(f.pool), Rounding: billing.HalfUp, Recipients: MailRecipients("uni.example"),
		BaseURL: "https://tally.example.org/", Cluster: "testbed", Now: func() time.Time { return now },
		Running: func(context.Context) ([]billing.RunningJob, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return slices.Clone(f.running), nil
		}}
	if mutate != nil {
		mutate(w)
	}
	return w
}

func mailer(addr string) *Mailer {
	return &Mailer{Addr: addr, From: "Tally <tally@uni.example>", Hello: "tally.test", Timeout: 5 * time.Second}
}

func check(t *testing.T, w *Watcher) Report {
	t.Helper()
	r, err := w.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sendDue(t *testing.T, s *Sender) SendReport {
	t.Helper()
	r, err := s.SendDue(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Crossing thresholds emails the coordinators and the PI once per
// threshold: the highest of those crossed together, never again on later
// checks; a top-up re-arms.
func TestAlertEmailedOncePerThreshold(t *testing.T) {
	f := newFixture(t)
	srv := startMail(t, "127.0.0.1:0", nil, nil)
	w := f.watcher(f.store, nil)
	s := &Sender{Outbox: f.store, Mailer: mailer(srv.Addr), Now: func() time.Time { return now }}
	b := f.budget("physics", 10, false)

	steps := []struct {
		name     string
		cpus     int64 // core-hours used so far
		topUp    int64
		subjects []string // every message received so far
	}{
		{"under 50 %", 4, 0, nil},
		{"80 % and 50 % at once: one email", 8, 0, []string{"[Tally] physics: 80 % of the budget used"}},
		{"checked again: nothing more", 8, 0, []string{"[Tally] physics: 80 % of the budget used"}},
		{"spent", 10, 0, []string{"[Tally] physics: 80 % of the budget used", "[Tally] physics: budget spent (100 %)"}},
		{"topped up to 20 h: 50 % re-armed", 10, 20, []string{"[Tally] physics: 80 % of the budget used", "[Tally] physics: budget spent (100 %)",
			"[Tally] physics: 50 % of the budget used"}},
		{"checked again after the top-up: nothing more", 10, 0, []string{"[Tally] physics: 80 % of the budget used",
			"[Tally] physics: budget spent (100 %)", "[Tally] physics: 50 % of the budget used"}},
	}
	for _, st := range steps {
		f.run("physics", st.cpus)
		if st.topUp > 0 {
			b = f.topUp(b, st.topUp)
		}
		check(t, w)
		sendDue(t, s)
		if got := subjects(srv.Messages()); joined(got) != joined(st.subjects) {
			t.Fatalf("%s: received %q, want %q", st.name, got, st.subjects)
		}
	}
	m := srv.Messages()[0]
	if want := "ada.lovelace@uni.example,carol@uni.example,dave@uni.example"; strings.ToLower(joined(m.To)) != want {
		t.Errorf("envelope recipients %v, want %s", m.To, want)
	}
	if m.From != "tally@uni.example" || m.Header.Get("From") != `"Tally" <tally@uni.example>` {
		t.Errorf("from %q / %q", m.From, m.Header.Get("From"))
	}
	alerts, err := f.store.AlertsFor(context.Background(), []int64{b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 4 {
		t.Fatalf("%d alerts recorded, want 4 (50 skipped, 80, 100, 50 of the new amount): %+v", len(alerts), alerts)
	}
	var first billingpg.Alert
	for _, a := range alerts {
		if a.Threshold == 80 {
			first = a
		}
		if a.Threshold == 50 && a.BudgetAmount == 10*3600 && a.Skipped != billingpg.SkippedForHigher {
			t.Errorf("the 50 %% crossed with 80 %% is not skipped: %+v", a)
		}
		if a.Skipped == "" && (a.EmailSentAt == nil || a.Pending() || a.Attempts != 0) {
			t.Errorf("alert %d not recorded as sent: %+v", a.ID, a)
		}
	}
	if got, want := m.Header.Get("Message-Id"), "<"+MessageID(first.ID, "tally@uni.example")+">"; got != want {
		t.Errorf("Message-ID %q, want %q", got, want)
	}
	for _, want := range []string{"The budget of physics has reached 80 % (80 % used).", "Spent:      8.00 core-hours (charged 0.00 core-hours, running jobs so far 8.00 core-hours)",
		"Remaining:  2.00 core-hours", "Budget:     10.00 core-hours, 2026-11-01 to 2026-11-30", "Details: https://tally.example.org/accounts/physics"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted missing")
	}
}

// A restart between recording and sending loses nothing: the crossing
// is recorded while the mail server is down, and a new Tally (new pool,
// new watcher and sender) sends it once when it is back, at its retry
// time. A crash after the server took a message but before Tally
// recorded it sends it again with the same Message-ID.
func TestRestartLosesNoAlertAndSendsNoneTwice(t *testing.T) {
	f := newFixture(t)
	addr := freeAddr(t) // nothing listens yet: the server is down
	b := f.budget("physics", 10, false)
	f.run("physics", 8)
	w1 := f.watcher(f.store, nil)
	s1 := &Sender{Outbox: f.store, Mailer: mailer(addr), Now: func() time.Time { return now }}
	if r := check(t, w1); r.Alerts != 2 {
		t.Fatalf("recorded %d alerts, want 2 (80 and the skipped 50)", r.Alerts)
	}
	if r := sendDue(t, s1); r.Failed != 1 || r.Sent != 0 {
		t.Fatalf("with the server down: %+v", r)
	}
	f.pool.Close() // Tally stops

	srv := startMail(t, addr, nil, nil)
	store2 := billingpg.New(f.open())
	w2 := f.watcher(store2, nil)
	clock := now.Add(10 * time.Second)
	s2 := &Sender{Outbox: store2, Mailer: mailer(addr), Now: func() time.Time { return clock }}
	check(t, w2)
	if r := sendDue(t, s2); r.Sent != 0 || len(srv.Messages()) != 0 {
		t.Fatalf("sent before the retry time: %+v", r)
	}
	clock = now.Add(31 * time.Second) // the first retry comes after 30 s
	if r := sendDue(t, s2); r.Sent != 1 {
		t.Fatalf("after the restart: %+v", r)
	}
	check(t, w2)
	sendDue(t, s2)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages, want exactly 1", n)
	}
	alerts, _ := store2.AlertsFor(context.Background(), []int64{b.ID})
	for _, a := range alerts {
		if a.Threshold == 80 && (a.Attempts != 1 || a.EmailSentAt == nil || a.LastError != "") {
			t.Errorf("after the retry: %+v", a)
		}
	}

	// The budget is spent; Tally crashes after the server accepted the
	// message, before its transaction commits.
	f.run("physics", 10)
	check(t, w2)
	crashing := &Sender{Outbox: crashAfterSend{store2}, Mailer: mailer(addr), Now: func() time.Time { return clock }}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no crash")
			}
		}()
		crashing.SendDue(context.Background(), 0)
	}()
	sendDue(t, &Sender{Outbox: billingpg.New(f.open()), Mailer: mailer(addr), Now: func() time.Time { return clock }})
	ms := srv.Messages()
	if len(ms) != 3 {
		t.Fatalf("%d messages, want 3 (80 %%, then 100 %% twice)", len(ms))
	}
	if a, b := ms[1].Header.Get("Message-Id"), ms[2].Header.Get("Message-Id"); a != b || a == "" {
		t.Errorf("the message sent again has another Message-ID: %q, %q", a, b)
	}
}

// crashAfterSend dies between a successful send and the commit.
type crashAfterSend struct{ Outbox }

func (c crashAfterSend) SendOne(ctx context.Context, now time.Time, send func(context.Context, billingpg.Alert) billingpg.Outcome) (bool, error) {
	return c.Outbox.SendOne(ctx, now, func(ctx context.Context, a billingpg.Alert) billingpg.Outcome {
		o := send(ctx, a)
		if o.Err == "" {
			panic("crash")
		}
		return o
	})
}

// Two replicas sending at once send each alert once (SKIP LOCKED).
func TestTwoSendersSendEachAlertOnce(t *testing.T) {
	f := newFixture(t)
	srv := startMail(t, "127.0.0.1:0", nil, nil)
	accounts := []string{"a0", "a1", "a2", "a3", "a4", "a5"}
	for _, a := range accounts {
		f.budget(a, 10, false)
		f.run(a, 8)
	}
	w := f.watcher(f.store, func(w *Watcher) {
		w.Recipients = func([]string, string, string) []string { return []string{"finance@uni.example"} }
	})
	if r := check(t, w); r.Alerts != 2*len(accounts) {
		t.Fatalf("recorded %d", r.Alerts)
	}
	var wg sync.WaitGroup
	for range 2 {
		store := billingpg.New(f.open())
		wg.Go(func() {
			if _, err := (&Sender{Outbox: store, Mailer: mailer(srv.Addr), Now: func() time.Time { return now }}).SendDue(context.Background(), 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, m := range srv.Messages() {
		ids[m.Header.Get("Message-Id")] = true
	}
	if n := len(srv.Messages()); n != len(accounts) || len(ids) != len(accounts) {
		t.Fatalf("%d messages (%d distinct), want %d", n, len(ids), len(accounts))
	}
}

// The webhook gets the payload signed, with the alert's id; a failure is
// retried, and with email off nothing waits for email.
func TestWebhookPostsSignedPayload(t *testing.T) {
	f := newFixture(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	var posts []*http.Request
	var bodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		posts = append(posts, r)
		bodies = append(bodies, body)
		if len(posts) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	b := f.budget("physics", 10, false)
	f.run("physics", 8)
	w := f.watcher(f.store, func(w *Watcher) { w.Recipients = nil; w.Webhook = true })
	clock := now
	s := &Sender{Outbox: f.store, Webhook: &Webhook{URL: hook.URL, Secret: secret}, Now: func() time.Time { return clock }}
	check(t, w)
	if r := sendDue(t, s); r.Failed != 1 {
		t.Fatalf("first post: %+v", r)
	}
	clock = now.Add(31 * time.Second)
	if r := sendDue(t, s); r.Sent != 1 {
		t.Fatalf("retry: %+v", r)
	}
	check(t, w)
	sendDue(t, s)
	if len(posts) != 2 {
		t.Fatalf("%d posts, want 2 (a failure and its retry)", len(posts))
	}
	r, body := posts[1], bodies[1]
	if got := r.Header.Get("X-Tally-Signature"); got != "sha256="+Sign(secret, body) {
		t.Errorf("signature %q", got)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.AlertID == 0 || r.Header.Get("X-Tally-Alert-Id") != strings.TrimSpace(jsonNumber(p.AlertID)) {
		t.Errorf("alert id %d, header %q", p.AlertID, r.Header.Get("X-Tally-Alert-Id"))
	}
	if p.Kind != "threshold" || p.Threshold != 80 || p.Account != "physics" || p.BudgetID != b.ID || p.UsedPercent != 80 ||
		p.Remaining != "2.00 core-hours" || p.SpentExact != 8*3600 || p.URL != "https://tally.example.org/accounts/physics" ||
		p.CrossedAt != now.Format(time.RFC3339) {
		t.Errorf("payload %+v", p)
	}
	alerts, _ := f.store.AlertsFor(context.Background(), []int64{b.ID})
	for _, a := range alerts {
		if a.Skipped == "" && (a.WebhookSentAt == nil || a.EmailSentAt != nil || len(a.Recipients) != 0 || a.Attempts != 1 || a.Pending()) {
			t.Errorf("alert %+v", a)
		}
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The client uses STARTTLS when offered (verifying the certificate),
// authenticates over it, and a refused recipient does not stop the others.
func TestMailerSTARTTLSAuthAndRefusals(t *testing.T) {
	cert, roots := selfSigned(t)
	srv := startMail(t, "127.0.0.1:0", &cert, func(m *mailServer) {
		m.user, m.password = "tally", "s3cret"
		m.refuse["gone@uni.example"] = true
	})
	m := mailer(srv.Addr)
	m.Username, m.Password = "tally", "s3cret"
	msg := Message{ID: "x@uni.example", To: []string{"a@uni.example", "gone@uni.example"}, Subject: "Budget: 80 % – €", Body: "line\n.\nend €\n", Date: now}

	tests := []struct {
		name    string
		roots   bool
		wantErr string
	}{
		{"untrusted certificate", false, "certificate"},
		{"trusted", true, "refused gone@uni.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.TLS = nil
			if tc.roots {
				m.TLS = &tls.Config{RootCAs: roots}
			}
			err := m.Send(context.Background(), msg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
	ms := srv.Messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	got := ms[0]
	if !got.TLS || got.AuthUser != "tally" || joined(got.To) != "a@uni.example" {
		t.Errorf("tls %v, user %q, to %v", got.TLS, got.AuthUser, got.To)
	}
	if got.Body != "line\r\n.\r\nend €\r\n" { // a line of one dot survives (dot-stuffing)
		t.Errorf("body %q", got.Body)
	}
	if s := got.Header.Get("Subject"); !strings.HasPrefix(s, "=?utf-8?q?") {
		t.Errorf("subject not encoded: %q", s)
	}
}
