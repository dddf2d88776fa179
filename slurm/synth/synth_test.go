package synth

import (
	"bytes"
	"testing"
	"time"

	"github.com/tally-hpc/tally/slurm"
)

func generate(t *testing.T) []slurm.Job {
	var jobs []slurm.Job
	err := Generate(Config{Seed: 7, From: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 9, 8, 0, 0, 0, 0, time.UTC), JobsPerDay: 200},
		func(j slurm.Job) error { jobs = append(jobs, j); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestDeterministicAndVaried(t *testing.T) {
	a, b := generate(t), generate(t)
	if len(a) != len(b) || len(a) < 1000 {
		t.Fatalf("%d vs %d jobs", len(a), len(b))
	}
	for i := range a {
		if a[i].Hash() != b[i].Hash() {
			t.Fatalf("job %d differs between runs", i)
		}
	}
	states := map[string]int{}
	arrays, gpus := 0, 0
	for _, j := range a {
		states[j.State]++
		if j.ArrayJobID != 0 {
			arrays++
		}
		if j.Requested.GPU > 0 {
			gpus++
		}
	}
	for _, s := range []string{"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "REQUEUED"} {
		if states[s] == 0 {
			t.Errorf("no %s jobs in %v", s, states)
		}
	}
	if arrays == 0 || gpus == 0 {
		t.Errorf("arrays %d gpus %d", arrays, gpus)
	}
}

// What the generator writes, the ingester reads back to the same records:
// sacct text (to the millisecond) and both JSON shapes.
func TestWritersRoundTrip(t *testing.T) {
	jobs := generate(t)
	var sacct bytes.Buffer
	sw := NewSacctWriter(&sacct)
	for _, j := range jobs {
		sw.Write(j)
	}
	sw.Flush()
	p, _ := slurm.NewSacctParser(slurm.SacctFormat, slurm.SacctDelimiter)
	var back []slurm.Job
	if err := p.Parse(&sacct, func(j slurm.Job) error { back = append(back, j); return nil },
		func(r slurm.Reject) error { t.Fatalf("reject %+v", r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(jobs) {
		t.Fatalf("sacct: %d of %d back", len(back), len(jobs))
	}
	for i := range jobs {
		if d := slurm.CompareRecords(jobs[i], back[i]); d != "" {
			t.Fatalf("sacct job %d: %s", jobs[i].JobID, d)
		}
	}
	for _, v := range []string{"v0.0.38", "v0.0.41"} {
		var js bytes.Buffer
		w := NewSlurmdbWriter(&js, v)
		for _, j := range jobs {
			w.Write(j)
		}
		w.Close()
		var got []slurm.Job
		if _, err := slurm.DecodeJobs(&js, func(j slurm.Job) error { got = append(got, j); return nil }); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if len(got) != len(jobs) {
			t.Fatalf("%s: %d of %d", v, len(got), len(jobs))
		}
		for i := range jobs {
			want := jobs[i]
			if d := slurm.CompareRecords(want, got[i]); d != "" {
				t.Fatalf("%s job %d: %s", v, want.JobID, d)
			}
		}
	}
}

func TestMakeUsers(t *testing.T) {
	us := MakeUsers(200, 12)
	if len(us) != 200 {
		t.Fatalf("%d users", len(us))
	}
	accts := map[string]bool{}
	names := map[string]bool{}
	for _, u := range us {
		if names[u.Name] || len(u.Accounts) == 0 {
			t.Fatalf("user %+v", u)
		}
		names[u.Name] = true
		for _, a := range u.Accounts {
			accts[a] = true
		}
	}
	if len(accts) != 12 {
		t.Errorf("%d accounts used", len(accts))
	}
	if small := MakeUsers(3, 2); len(small) != 3 {
		t.Errorf("%d users", len(small))
	}
}

func TestCustomPartitionsAndQOS(t *testing.T) {
	seen := map[string]bool{}
	gpus := 0
	Generate(Config{Seed: 1, From: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC), JobsPerDay: 2000,
		Partitions: []string{"main", "gpu-h100", "fat-mem"}, QOS: []string{"std", "low"}}, func(j slurm.Job) error {
		seen[j.Partition+"/"+j.QOS] = true
		if j.Requested.GPU > 0 && j.Partition != "gpu-h100" {
			t.Errorf("GPUs on %s", j.Partition)
		}
		if j.Requested.GPU > 0 {
			gpus++
		}
		return nil
	})
	for _, want := range []string{"main/std", "main/low", "gpu-h100/std", "fat-mem/std"} {
		if !seen[want] {
			t.Errorf("no %s jobs: %v", want, seen)
		}
	}
	if gpus == 0 {
		t.Error("no GPU jobs")
	}
}

// The generator writes jobs as slurmdbd records them at cfg.To: nothing
// ends after it; jobs that would have are running (or pending) with no end.
func TestNoEndTimeInTheFuture(t *testing.T) {
	to := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	var running, pending int
	err := Generate(Config{Seed: 3, From: to.AddDate(0, 0, -3), To: to, JobsPerDay: 400}, func(j slurm.Job) error {
		switch {
		case j.End.After(to):
			t.Fatalf("job %d ends %s, after %s", j.JobID, j.End, to)
		case j.End.IsZero() && j.State == "RUNNING":
			running++
			if j.Start.IsZero() || j.ElapsedSeconds != int64(to.Sub(j.Start)/time.Second) {
				t.Errorf("running job %d: start %s, elapsed %d", j.JobID, j.Start, j.ElapsedSeconds)
			}
		case j.End.IsZero() && j.State == "PENDING":
			pending++
		case j.End.IsZero():
			t.Errorf("job %d has no end but is %s", j.JobID, j.State)
		}
		return nil
	})
	if err != nil || running == 0 {
		t.Fatalf("running %d, pending %d, err %v", running, pending, err)
	}
}
