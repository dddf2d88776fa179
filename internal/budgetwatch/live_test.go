package budgetwatch

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
	"github.com/tally-hpc/tally/internal/audit"
	"github.com/tally-hpc/tally/internal/pgtest"
	"github.com/tally-hpc/tally/internal/slurmtest"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// liveCard prices a core-second at 1 USD, so that the testbed's short
// jobs cost whole dollars and statement rounding is no part of what the
// test measures.
const liveCard = `name: budget-live
currency: USD
minor_digits: 2
versions:
  - version: 1
    effective_from: 2026-01-01T00:00:00Z
    basis: requested
    charged_states: [COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, PREEMPTED, CANCELLED]
    qos:
      normal: "1.0"
    partitions:
      cpu: {combine: sum, cpu: "3600", mem: "0"}
      gpu: {combine: sum, cpu: "3600", mem: "0", gpu: "0"}
`

// The live test, on the testbed: a budget on an account of its
// own; a job's charge lowers the balance; a running job's cost so far
// shows; crossing 80 % sends exactly one email to a real SMTP server;
// with enforcement on, Slurm refuses the account's next sbatch once the
// budget is spent and accepts it after a top-up.
func TestLiveBudgetAlertsAndEnforcement(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	t.Setenv("SLURM_CONF", tb.Conf)
	cluster := os.Getenv("SLURM_CLUSTER")
	if cluster == "" {
		cluster = "testbed"
	}
	ctx := context.Background()
	// An account of its own, so that a hold left by a crash stops no
	// other test; bob's association with it is removed at the end, as
	// other tests count the testbed users' associations.
	const account, user = "budgetlive", "bob"
	slurmtest.Sacctmgr(t, tb, "add", "account", account, "cluster="+cluster, "description=budget live test", "organization=testbed")
	slurmtest.Sacctmgr(t, tb, "add", "user", user, "account="+account, "cluster="+cluster)
	t.Cleanup(func() { removeAssociation(t, tb, cluster, account, user) })
	limits := slurm.AccountLimits{}
	// Whatever happens, the account is left unheld.
	unhold := func() {
		if err := limits.SetSubmitLimit(context.Background(), cluster, account, ""); err != nil {
			t.Errorf("lifting the hold: %v", err)
		}
	}
	unhold()
	t.Cleanup(unhold)

	pool := pgtest.New(t)
	store := billingpg.New(pool)
	cards, err := billing.ParseRateFile(strings.NewReader(liveCard), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Import(ctx, cards, "test"); err != nil {
		t.Fatal(err)
	}
	month := time.Now().UTC()
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	if err := store.AddPeriod(ctx, month.Format("2006-01"), month, month.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO slurm_coordinators (cluster, account, username) VALUES ($1, $2, 'carol')`, cluster, account); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO account_details (account, pi) VALUES ($1, 'pi@uni.example')`, account); err != nil {
		t.Fatal(err)
	}

	in := liveIngester(t, tb, pool)
	srv := startMail(t, "127.0.0.1:0", nil, nil)
	w := &Watcher{Store: store, Audit: audit.New(pool), Rounding: billing.HalfUp, Recipients: MailRecipients("uni.example"),
		BaseURL: "https://tally.example.org", Enforce: EnforceOn, Cluster: cluster, Slurm: limits,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Running: func(ctx context.Context) ([]billing.RunningJob, error) {
			if _, err := in.RefreshLive(ctx, time.Now()); err != nil {
				return nil, err
			}
			return jobstore.LiveJobs(ctx, pool, "", []string{account}, "")
		}}
	s := &Sender{Outbox: store, Mailer: mailer(srv.Addr)}
	b, _, err := store.SetBudget(ctx, billing.Budget{Account: account, Unit: billing.UnitMoney, Amount: 100_000 * billing.MicrosPerUnit,
		Starts: month, Ends: month.AddDate(0, 1, 0), Enforce: true, UpdatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	balance := func() billing.Balance {
		t.Helper()
		running, err := w.Running(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bals, err := store.Balances(ctx, []billing.Budget{b}, running, time.Now(), billing.HalfUp)
		if err != nil {
			t.Fatal(err)
		}
		return bals[0]
	}
	setAmount := func(amount int64) {
		t.Helper()
		b.Amount = amount
		if b, _, err = store.SetBudget(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Earlier runs' jobs of the account are counted before, not after.
	from := time.Now().Add(-time.Minute)
	ingestAndRate(t, in, store, from)
	before := balance()

	// A finished job: the balance falls by its charge.
	done := slurmtest.Submit(t, tb, user, true, "-p", "cpu", "-A", account, "-J", "budget-done", "-c", "8", "--wrap", "sleep 20")
	charge := ingestUntilCharged(t, in, store, pool, from, done)
	after := balance()
	if fell := before.Remaining() - after.Remaining(); abs(fell-charge) > 50_000 || fell != after.Charged-before.Charged || charge < 100*billing.MicrosPerUnit {
		t.Fatalf("the balance fell by %d; the statements charged %d more, the job %d", fell, after.Charged-before.Charged, charge)
	}

	// A running job: its cost so far shows.
	running := slurmtest.Submit(t, tb, user, false, "-p", "cpu", "-A", account, "-J", "budget-running", "-c", "1", "--wrap", "sleep 300")
	t.Cleanup(func() { scancel(tb, running) })
	slurmtest.WaitRunning(t, tb, running, 60*time.Second)
	time.Sleep(3 * time.Second)
	now := balance()
	if now.Accruing < 2*billing.MicrosPerUnit || now.Charged != after.Charged {
		t.Fatalf("with a job running: accruing %d, charged %d (was %d)", now.Accruing, now.Charged, after.Charged)
	}

	// 80 %: the budget cut so that what is spent is 85 % of it; one email,
	// however often the check runs.
	setAmount(now.Spent() * 100 / 85)
	for range 3 {
		if _, err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
		sendDue(t, s)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Header.Get("Subject"), "80 % of the budget used") {
		t.Fatalf("after crossing 80 %%: %q, want one 80 %% email", subjects(msgs))
	}
	if got := joined(msgs[0].To); got != "carol@uni.example,pi@uni.example" {
		t.Errorf("sent to %s", got)
	}

	// Spent: the running job ends and is charged, the budget is cut to
	// what was spent, and Slurm refuses the account's next job.
	scancel(tb, running)
	ingestUntilCharged(t, in, store, pool, from, running)
	spent := balance()
	if spent.Accruing != 0 {
		t.Fatalf("accruing %d after the job ended", spent.Accruing)
	}
	setAmount(spent.Charged)
	rep, err := w.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if joined(rep.Held) != account {
		t.Fatalf("held %v, want %s (errors %d)", rep.Held, account, rep.Errors)
	}
	out := sbatchUntil(t, tb, user, account, false)
	if !strings.Contains(out, "AssocGrpSubmitJobsLimit") && !strings.Contains(out, "violates accounting/QOS policy") {
		t.Errorf("sbatch refused with %q", out)
	}
	sendDue(t, s)
	if n := strings.Count(joined(subjects(srv.Messages())), "80 % of the budget used"); n != 1 {
		t.Errorf("%d emails for 80 %%, want 1: %q", n, subjects(srv.Messages()))
	}

	// A top-up lifts the hold: Slurm accepts the next job.
	setAmount(spent.Charged * 2)
	rep, err = w.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if joined(rep.Lifted) != account {
		t.Fatalf("lifted %v, want %s (errors %d)", rep.Lifted, account, rep.Errors)
	}
	sbatchUntil(t, tb, user, account, true)
	if v, err := limits.SubmitLimit(ctx, cluster, account); err != nil || v != "" {
		t.Errorf("GrpSubmitJobs after the lift: %q, %v", v, err)
	}
	var audited int
	pool.QueryRow(ctx, `SELECT count(*) FROM admin_events WHERE actor = 'tally' AND action IN ('budget_hold', 'budget_lift') AND detail LIKE '%'||$1||'%'`,
		account).Scan(&audited)
	if audited != 2 {
		t.Errorf("%d audit events, want a hold and a lift", audited)
	}
}

func liveIngester(t *testing.T, tb testenv.Slurm, pool *pgxpool.Pool) *ingest.Ingester {
	t.Helper()
	m, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: tb.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := slurm.NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "auto", Window: time.Hour, Retry: slurm.Retry{Attempts: 2, Backoff: 100 * time.Millisecond}},
		jobstore.New(pool), c, slurm.NewMintedService("tally", m), &slurm.Sacct{Path: "sacct"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// ingestUntilCharged ingests and rates until job id is charged (slurmdbd
// learns of a job's end asynchronously) and returns its exact charge.
func ingestUntilCharged(t *testing.T, in *ingest.Ingester, store *billingpg.Store, pool *pgxpool.Pool, from time.Time, id int64) int64 {
	t.Helper()
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		ingestAndRate(t, in, store, from)
		var n int64
		err := pool.QueryRow(ctx, `SELECT coalesce(sum(c.total_micros), 0)::bigint FROM job_charges c JOIN jobs j ON j.id = c.job_row
			WHERE j.job_id = $1 AND c.not_charged = ''`, id).Scan(&n)
		if err != nil && err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		if n > 0 {
			return n
		}
		if attempt == 30 {
			t.Fatalf("job %d not charged after 60 s", id)
		}
		time.Sleep(2 * time.Second)
	}
}

func ingestAndRate(t *testing.T, in *ingest.Ingester, store *billingpg.Store, from time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := in.Run(ctx, from, time.Now().Add(time.Minute), ingest.Options{Trigger: "cli"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RateOpen(ctx, billingpg.RateOptions{Rounding: billing.HalfUp}); err != nil {
		t.Fatal(err)
	}
}

// sbatchUntil submits a job to account as user until Slurm accepts it
// (accept) or refuses it (slurmctld learns of limits from slurmdbd a
// moment after sacctmgr changes them) and returns what sbatch said.
func sbatchUntil(t *testing.T, tb testenv.Slurm, user, account string, accept bool) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		cmd := exec.Command("runuser", "-u", user, "--", "sbatch", "--parsable", "--chdir=/tmp", "-o", "/dev/null",
			"-p", "cpu", "-A", account, "-J", "budget-probe", "--wrap", "true")
		cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
		out, err := cmd.CombinedOutput()
		if err == nil {
			if id, perr := strconv.ParseInt(strings.TrimSpace(strings.Split(string(out), ";")[0]), 10, 64); perr == nil {
				scancel(tb, id)
			}
		}
		if (err == nil) == accept {
			return string(out)
		}
		if attempt == 20 {
			t.Fatalf("sbatch for %s: accepted %v, want %v: %s", account, err == nil, accept, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// removeAssociation deletes user's association with account, once the
// jobs cancelled at the end have left slurmctld (it refuses before).
func removeAssociation(t *testing.T, tb testenv.Slurm, cluster, account, user string) {
	var out []byte
	for range 20 {
		cmd := exec.Command("sacctmgr", "-i", "delete", "user", user, "account="+account, "cluster="+cluster)
		cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
		var err error
		if out, err = cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "Nothing deleted") {
			return
		}
		time.Sleep(time.Second)
	}
	t.Errorf("removing %s's association with %s: %s", user, account, out)
}

func scancel(tb testenv.Slurm, id int64) {
	cmd := exec.Command("scancel", strconv.FormatInt(id, 10))
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	cmd.Run()
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
