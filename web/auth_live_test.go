package web

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

	"github.com/tally-hpc/tally/internal/slurmtest"
	"github.com/tally-hpc/tally/internal/testenv"
	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// A real person (the testbed's alice, password set by test-pam-setup.sh)
// signs in through PAM; the token Tally minted for her works against the
// real slurmrestd, and a token Slurm refuses becomes "Slurm session
// expired", not data.
func TestLiveSlurmSession(t *testing.T) {
	tb := testenv.RequireSlurm(t)
	requirePAM(t)
	if out, err := exec.Command("runuser", "-u", "alice", "--", "true").CombinedOutput(); err != nil {
		testenv.Missing(t, "testbed user alice missing: "+string(out))
	}
	client, err := slurm.NewClient(tb.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Run a job as alice so she has something to see.
	cmd := exec.Command("runuser", "-u", "alice", "--", "sbatch", "-W", "--chdir=/tmp", "-p", "cpu", "-A", "physics",
		"-J", "tally-web-live", "-o", "/dev/null", "--wrap", "true")
	cmd.Env = append(os.Environ(), "SLURM_CONF="+tb.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sbatch: %v\n%s", err, out)
	}

	m, err := slurm.NewMinter(slurm.MinterConfig{KeyFile: tb.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	version, err := client.DiscoverVersion(context.Background(), slurm.NewMintedService("alice", m))
	if err != nil {
		t.Fatalf("discovering the slurmdb version: %v", err)
	}
	t.Run("accepted", func(t *testing.T) {
		e := newAuthServer(t, tb.KeyFile, func(c *Config, d *Deps) {
			c.Auth.SlurmAPIVersion = version
			d.Slurm = client
			in, err := ingest.New(ingest.Config{Source: "rest", Window: 24 * time.Hour}, jobstore.New(d.Pool), client, nil, nil,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			d.Ingest = ingest.NewScheduler(in, d.Pool, 0, time.Hour, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
		})
		b := newBrowser(t, e)
		if resp, _ := b.login("alice", "tally-alice-pw", "/me"); resp.StatusCode != 303 {
			t.Fatalf("alice login: %d", resp.StatusCode)
		}
		resp, body := b.get("/me")
		if resp.StatusCode != 200 || !strings.Contains(body, "token for you. slurmrestd reports") {
			t.Fatalf("/me: %d\n%s", resp.StatusCode, body)
		}
		if strings.Contains(body, "reports 0 of your jobs") {
			t.Error("alice's job not visible through her token")
		}
		// Signing in pulled her own jobs with her own token, in the
		// background; "Refresh my records" straight after is one refresh
		// too many (one per person per five minutes) and says so.
		if resp, _ := b.post("/refresh", nil); resp.StatusCode != 303 {
			t.Fatalf("refresh: %d", resp.StatusCode)
		}
		if _, body := b.get("/"); !strings.Contains(body, "Not refreshed: refreshed moments ago") {
			t.Errorf("a second refresh at once was not refused:\n%.2000s", body)
		}
		var mine, others int
		for range 100 {
			e.srv.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE username = 'alice'), count(*) FILTER (WHERE username <> 'alice') FROM jobs`).Scan(&mine, &others)
			if mine > 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if mine == 0 || others != 0 {
			t.Errorf("after signing in: %d of alice's jobs, %d of others", mine, others)
		}
		// What runs now, read live with her own token, priced so far.
		importStandardCard(t, e.srv.pool)
		id := slurmtest.Submit(t, tb, "alice", false, "-p", "cpu", "-A", "physics", "-c", "2", "-J", "tally-running-live", "--wrap", "sleep 300")
		t.Cleanup(func() { slurmtest.Scancel(t, tb, id) })
		slurmtest.WaitRunning(t, tb, id, time.Minute)
		time.Sleep(2 * time.Second)
		resp, body = b.get("/jobs/running")
		row := between(body, `data-key="`+strconv.FormatInt(id, 10)+`"`, "</tr>")
		if resp.StatusCode != 200 || !strings.Contains(row, "RUNNING") || !strings.Contains(row, "USD") {
			t.Errorf("/jobs/running does not show job %d running with its cost so far: %d\n%.3000s", id, resp.StatusCode, body)
		}
	})
	// The testbeds trust a JWKS too: the same with Tally minting RS256
	// tokens for the person who signed in.
	if rsKey := os.Getenv("SLURM_JWT_RS256_KEY"); rsKey != "" {
		t.Run("accepted with RS256", func(t *testing.T) {
			rs, err := slurm.NewMinter(slurm.MinterConfig{Alg: "RS256", KeyFile: rsKey})
			if err != nil {
				t.Fatal(err)
			}
			e := newAuthServer(t, "", func(c *Config, d *Deps) {
				c.Auth.SlurmAPIVersion, d.Slurm, d.Minter = version, client, rs
			})
			b := newBrowser(t, e)
			if resp, _ := b.login("alice", "tally-alice-pw", "/me"); resp.StatusCode != 303 {
				t.Fatalf("alice login: %d", resp.StatusCode)
			}
			if resp, body := b.get("/me"); resp.StatusCode != 200 || !strings.Contains(body, "token for you. slurmrestd reports") ||
				strings.Contains(body, "reports 0 of your jobs") {
				t.Fatalf("/me with an RS256 token: %d\n%s", resp.StatusCode, body)
			}
		})
	}
	t.Run("refused becomes expired state", func(t *testing.T) {
		// A key slurmrestd does not know: every token Tally mints is refused.
		e := newAuthServer(t, hs256Key(t), func(c *Config, d *Deps) { c.Auth.SlurmAPIVersion, d.Slurm = version, client })
		b := newBrowser(t, e)
		b.login("alice", "tally-alice-pw", "/me")
		resp, body := b.get("/me")
		if resp.StatusCode != 200 || !strings.Contains(body, "Slurm session expired") || strings.Contains(body, "of your jobs") {
			t.Fatalf("/me: %d\n%s", resp.StatusCode, body)
		}
	})
}
