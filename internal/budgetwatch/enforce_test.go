package budgetwatch

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// limits stands in for sacctmgr here (the live test holds a real
// account): the account's GrpSubmitJobs per cluster/account.
type limits struct {
	mu  sync.Mutex
	set map[string]string
	log []string
}

func (l *limits) SubmitLimit(_ context.Context, cluster, account string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set[cluster+"/"+account], nil
}

func (l *limits) SetSubmitLimit(_ context.Context, cluster, account, value string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set[cluster+"/"+account] = value
	l.log = append(l.log, account+"="+value)
	return nil
}

// A spent, enforced budget holds its account once; a top-up lifts the
// hold and restores the limit it replaced; a dry run changes nothing in
// Slurm but records and audits what it would do; a cap or an unenforced
// budget holds nothing.
func TestEnforcementHoldsAndLifts(t *testing.T) {
	for _, mode := range []Enforcement{EnforceOn, EnforceDryRun, EnforceOff} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			l := &limits{set: map[string]string{"testbed/physics": "5"}}
			w := f.watcher(f.store, func(w *Watcher) { w.Enforce = mode; w.Slurm = l })
			b := f.budget("physics", 10, true)
			f.budget("chem", 10, false) // not enforced
			f.run("physics", 12)
			f.run("chem", 12)

			r := check(t, w)
			r2 := check(t, w) // held once
			wantHeld := "physics"
			if mode == EnforceOff {
				wantHeld = ""
			}
			if joined(r.Held) != wantHeld || len(r2.Held) != 0 || r.Errors+r2.Errors != 0 {
				t.Fatalf("held %v then %v (errors %d), want %q once", r.Held, r2.Held, r.Errors+r2.Errors, wantHeld)
			}
			wantSlurm := map[Enforcement]string{EnforceOn: "physics=0", EnforceDryRun: "", EnforceOff: ""}[mode]
			if joined(l.log) != wantSlurm {
				t.Fatalf("Slurm changes %v, want %q", l.log, wantSlurm)
			}
			holds, err := f.store.Holds(context.Background(), []string{"physics", "chem"})
			if err != nil {
				t.Fatal(err)
			}
			if mode != EnforceOff && (len(holds) != 1 || holds[0].DryRun != (mode == EnforceDryRun) || holds[0].LiftedAt != nil ||
				(mode == EnforceOn && holds[0].Previous != "5")) {
				t.Fatalf("holds %+v", holds)
			}

			f.topUp(b, 20)
			r = check(t, w)
			wantLifted := wantHeld
			if joined(r.Lifted) != wantLifted {
				t.Fatalf("lifted %v, want %q", r.Lifted, wantLifted)
			}
			if mode == EnforceOn && (joined(l.log) != "physics=0,physics=5" || l.set["testbed/physics"] != "5") {
				t.Fatalf("Slurm changes %v: the limit before the hold is not restored", l.log)
			}
			holds, _ = f.store.Holds(context.Background(), nil)
			for _, h := range holds {
				if h.LiftedAt == nil {
					t.Errorf("hold %+v not lifted", h)
				}
			}
			rows, _ := f.pool.Query(context.Background(), `SELECT actor || ' ' || action || ': ' || detail FROM admin_events ORDER BY id`)
			events, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if mode == EnforceOff {
				if len(events) != 0 {
					t.Fatalf("audit %q", events)
				}
				return
			}
			if len(events) != 2 || !strings.HasPrefix(events[0], "tally budget_hold: ") || !strings.HasPrefix(events[1], "tally budget_lift: ") {
				t.Fatalf("audit %q", events)
			}
			if dry := strings.Contains(events[0], "dry run"); dry != (mode == EnforceDryRun) {
				t.Errorf("audit %q", events)
			}
		})
	}
}

func TestMailRecipients(t *testing.T) {
	tests := []struct {
		name         string
		domain       string
		coordinators []string
		pi, capped   string
		want         string
	}{
		{"coordinators and a PI address", "uni.example", []string{"dave", "carol"}, "Ada <ada@lab.example>", "", "ada@lab.example,carol@uni.example,dave@uni.example"},
		{"PI as a user name, a cap's person", "uni.example", []string{"carol"}, "ada", "bob", "ada@uni.example,bob@uni.example,carol@uni.example"},
		{"a PI name is no address", "uni.example", nil, "Prof. Ada Lovelace", "", ""},
		{"no domain: only addresses", "", []string{"carol"}, "ada@lab.example", "", "ada@lab.example"},
		{"each once, odd names left out", "uni.example", []string{"carol", "carol", "Bad Name", "x@y"}, "carol@uni.example", "", "carol@uni.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := joined(MailRecipients(tc.domain)(tc.coordinators, tc.pi, tc.capped)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
