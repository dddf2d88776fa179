package synth

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

// Restd imitates slurmrestd 22.05 over a set of generated jobs, for the
// demo: its accounting endpoints (slurmdbd's records) and slurmctld's live
// job list, so the real ingest path (REST client, decoders, job store)
// loads it. Like a real slurmrestd it serves one cluster. It checks that
// both auth headers are present, as slurmrestd does, but verifies no
// signature: it is never a security boundary and serves only on loopback.
type Restd struct {
	mu      sync.RWMutex
	cluster string
	jobs    []slurm.Job // sorted by submit time
	users   []User
	coords  map[string][]string // account -> coordinators
}

// NewRestd serves jobs, the users' associations and the accounts'
// coordinators, as the cluster "demo".
func NewRestd(jobs []slurm.Job, users []User, coordinators map[string][]string) *Restd {
	return NewClusterRestd("demo", jobs, users, coordinators)
}

// NewClusterRestd is NewRestd for the named cluster: the one its
// associations and live jobs name (the jobs name their own).
func NewClusterRestd(cluster string, jobs []slurm.Job, users []User, coordinators map[string][]string) *Restd {
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].Submit.Before(jobs[j].Submit) })
	return &Restd{cluster: cluster, jobs: jobs, users: users, coords: coordinators}
}

// Add records more jobs, as a cluster that keeps running does.
func (d *Restd) Add(jobs ...slurm.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, jobs...)
	sort.SliceStable(d.jobs, func(i, j int) bool { return d.jobs[i].Submit.Before(d.jobs[j].Submit) })
}

func (d *Restd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-SLURM-USER-NAME") == "" || r.Header.Get("X-SLURM-USER-TOKEN") == "" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Authentication failure")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/openapi/v3":
		fmt.Fprint(w, `{"openapi":"3.0.3","info":{"title":"Slurm REST API (Tally demo)"},"paths":{"/slurm/v0.0.38/jobs":{},"/slurmdb/v0.0.38/jobs":{},"/slurmdb/v0.0.38/associations":{},"/slurmdb/v0.0.38/accounts":{}}}`)
	case "/slurmdb/v0.0.38/jobs":
		d.serveJobs(w, r)
	case "/slurm/v0.0.38/jobs":
		// slurmctld lists every job it holds whatever the query.
		d.mu.RLock()
		defer d.mu.RUnlock()
		writeLiveJobs(w, d.cluster, d.jobs, d.users)
	case "/slurmdb/v0.0.38/associations":
		var parts []string
		for _, u := range d.users {
			for i, a := range u.Accounts {
				def := 0
				if i == 0 {
					def = 1
				}
				parts = append(parts, fmt.Sprintf(`{"account":%q,"cluster":%q,"user":%q,"is_default":%d}`, a, d.cluster, u.Name, def))
			}
		}
		fmt.Fprintf(w, `{"meta":{},"errors":[],"associations":[%s]}`, strings.Join(parts, ","))
	case "/slurmdb/v0.0.38/accounts":
		seen := map[string]bool{}
		var parts []string
		for _, u := range d.users {
			for _, a := range u.Accounts {
				if !seen[a] {
					seen[a] = true
					var cs []string
					for _, c := range d.coords[a] {
						cs = append(cs, fmt.Sprintf(`{"name":%q,"direct":1}`, c))
					}
					parts = append(parts, fmt.Sprintf(`{"name":%q,"coordinators":[%s]}`, a, strings.Join(cs, ",")))
				}
			}
		}
		fmt.Fprintf(w, `{"meta":{},"errors":[],"accounts":[%s]}`, strings.Join(parts, ","))
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "Unable to find requested URL")
	}
}

// serveJobs answers like slurmdbd: jobs eligible or running in the window.
func (d *Restd) serveJobs(w http.ResponseWriter, r *http.Request) {
	parse := func(s string) (time.Time, bool) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0), true
		}
		t, err := time.Parse("2006-01-02T15:04:05", s)
		return t, err == nil
	}
	from, ok1 := parse(r.URL.Query().Get("start_time"))
	to, ok2 := parse(r.URL.Query().Get("end_time"))
	if !ok1 || !ok2 {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"meta":{},"errors":[{"error_number":9000,"error":"Unspecified error","description":"Unable to parse time format","source":"start_time"}],"jobs":[]}`)
		return
	}
	d.mu.RLock()
	hi := sort.Search(len(d.jobs), func(i int) bool { return !d.jobs[i].Submit.Before(to) })
	var in []slurm.Job
	for _, j := range d.jobs[:hi] {
		if j.End.IsZero() || !j.End.Before(from) {
			in = append(in, j)
		}
	}
	d.mu.RUnlock()
	if len(in) == 0 {
		// slurmdbd's way of saying the window is empty.
		fmt.Fprint(w, `{"meta":{},"errors":[{"error_number":9003,"error":"Nothing found with query"}],"jobs":[]}`)
		return
	}
	out := NewSlurmdbWriter(w, "v0.0.38")
	for _, j := range in {
		out.Write(j)
	}
	out.Close()
}
