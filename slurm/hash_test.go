package slurm

import (
	"fmt"
	"strings"
	"testing"
)

// Stored jobs carry their content hash, and a re-ingest compares against
// it: a changed hash function would mark every stored job as changed. The
// golden file was written by the first implementation.
func TestHashIsStable(t *testing.T) {
	var out strings.Builder
	for _, f := range jsonFixtures(t) {
		jobs, _ := decodeFile(t, f)
		for _, j := range jobs {
			fmt.Fprintf(&out, "%s %d %d %s\n", strings.TrimPrefix(f, "testdata/"), j.JobID, j.Submit.Unix(), j.Hash())
		}
	}
	gpu := Job{Cluster: "c", JobID: 1, Requested: TRES{GPU: 3, GPUByType: map[string]int64{"a100": 2, "h100": 1}},
		Allocated: TRES{GPU: 1, GPUByType: map[string]int64{"a100": 1}}}
	fmt.Fprintf(&out, "typed gpus %s\n", gpu.Hash())
	golden(t, "hashes.txt", []byte(out.String()))
}
