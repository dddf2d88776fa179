package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// soakPlan is what the soak's simulated people do. The soak hands it to a
// load generator in a process of its own (this test binary run again, for
// TestSoakLoadGenerator), so that the latencies it reports are Tally's:
// the generator's goroutines, allocations and garbage collection no longer
// share Tally's runtime. They still share the machine's cores, as a
// generator on the same host would.
type soakPlan struct {
	URL       string
	Users     int
	Duration  time.Duration
	Logins    []string          // the Unix accounts people sign in as, in turn
	Passwords map[string]string // by login
	Receipts  []int64           // job rows tally-t-alice may open
	CSVFrom   string            // the jobs.csv export's from date
}

// soakSample is one request's outcome.
type soakSample struct {
	Page string
	Took time.Duration
	Err  string
	At   time.Time
}

// soakPlanEnv names the plan file that makes TestSoakLoadGenerator run;
// its samples go to the same path with ".out" added, one JSON per line.
const soakPlanEnv = "TALLY_SOAK_PLAN"

// runElsewhere runs the plan in a child process and returns its samples.
func (p soakPlan) runElsewhere(t *testing.T) ([]soakSample, error) {
	t.Helper()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(planFile, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakLoadGenerator$", "-test.count=1", fmt.Sprintf("-test.timeout=%s", p.Duration+5*time.Minute))
	cmd.Env = append(os.Environ(), soakPlanEnv+"="+planFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("load generator: %v\n%s", err, out)
	}
	f, err := os.Open(planFile + ".out")
	if err != nil {
		return nil, fmt.Errorf("load generator wrote no samples: %v\n%s", err, out)
	}
	defer f.Close()
	var all []soakSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s soakSample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("sample %q: %w", sc.Text(), err)
		}
		all = append(all, s)
	}
	return all, sc.Err()
}

// TestSoakLoadGenerator is the soak's load generator; it runs only as the
// child process TestSoak starts.
func TestSoakLoadGenerator(t *testing.T) {
	planFile := os.Getenv(soakPlanEnv)
	if planFile == "" {
		t.Skip("the soak's load generator; TestSoak runs it in a process of its own")
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var p soakPlan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(planFile + ".out")
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	var mu sync.Mutex
	p.browse(func(s soakSample) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(s)
	})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// browse runs every simulated person until the plan's time is up.
func (p soakPlan) browse(emit func(soakSample)) {
	deadline := time.Now().Add(p.Duration)
	var wg sync.WaitGroup
	for i := range p.Users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: time.Minute,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			who := p.Logins[i%len(p.Logins)]
			get := func(page, path string, want int) {
				began := time.Now()
				resp, err := c.Get(p.URL + path)
				s := soakSample{Page: page}
				if err != nil {
					s.Err = err.Error()
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want {
						s.Err = fmt.Sprintf("%s: %d", path, resp.StatusCode)
					}
				}
				s.Took, s.At = time.Since(began), began
				emit(s)
			}
			// People arrive over the first tenth of the run, not all in one
			// second (sign-ins are bounded: at most 8 PAM conversations).
			time.Sleep(time.Duration(i) * p.Duration / 10 / time.Duration(p.Users))
			resp, err := c.PostForm(p.URL+"/login", url.Values{"username": {who}, "password": {p.Passwords[who]}})
			if err != nil || resp.StatusCode != http.StatusSeeOther {
				emit(soakSample{Page: "login", Err: fmt.Sprintf("login %s: %v %v", who, err, resp)})
				return
			}
			resp.Body.Close()
			for time.Now().Before(deadline) {
				// A person's mix: mostly the dashboard and the job list, a
				// receipt or account page now and then, an export rarely.
				switch n := rng.Intn(100); {
				case n < 30:
					get("dashboard", "/", 200)
				case n < 55:
					get("jobs", "/jobs?sort=end", 200)
				case n < 65:
					get("jobs filtered", "/jobs?partition=gpu&state=COMPLETED", 200)
				case n < 75 && who == "tally-t-alice" && len(p.Receipts) > 0:
					get("receipt", fmt.Sprintf("/jobs/%d", p.Receipts[rng.Intn(len(p.Receipts))]), 200)
				case n < 75:
					get("account", "/accounts/physics", 200)
				case n < 77:
					get("jobs.csv", "/jobs.csv?from="+p.CSVFrom, 200)
				default:
					get("statements", "/statements", 200)
				}
				time.Sleep(time.Duration(1000+rng.Intn(2000)) * time.Millisecond) // reading the page
			}
		}()
	}
	wg.Wait()
}
