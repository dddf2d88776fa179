package slurm

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The hand-written step JSON reads back as encoding/json's does, for every
// recorded answer's steps and for the awkward strings a step can carry.
func TestAppendStepsJSONMatchesEncodingJSON(t *testing.T) {
	code, zero := 3, 0
	cases := [][]Step{
		nil,
		{{ID: "1.batch", State: "COMPLETED", ElapsedSeconds: 5}},
		{{ID: "7.0", Name: "a\"b\\c\nd\te\x01\x7f<&>", State: "FAILED", ExitCode: &code, Start: 1, End: -2, Tasks: 4, NodeList: "n[01-02]"},
			{ID: "7.extern", Name: "ü€𝄞 \xff\xfe bad", State: "", ExitCode: &zero, CPUTimeMicros: 1 << 62}},
	}
	for _, f := range jsonFixtures(t) {
		jobs, _ := decodeFile(t, f)
		for _, j := range jobs {
			cases = append(cases, j.Steps)
		}
	}
	for i, steps := range cases {
		want, err := json.Marshal(steps)
		if err != nil {
			t.Fatal(err)
		}
		if steps == nil {
			want = []byte("[]") // the table stores no steps as an empty array
		}
		got := AppendStepsJSON(nil, steps)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("case %d: %s is not JSON: %v", i, got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzAppendStepsJSON(f *testing.F) {
	f.Add("1.batch", "name", "COMPLETED", "n01", int64(5))
	f.Fuzz(func(t *testing.T, id, name, state, nodes string, n int64) {
		steps := []Step{{ID: id, Name: name, State: state, NodeList: nodes, Start: n, ElapsedSeconds: n, Tasks: n}}
		want, _ := json.Marshal(steps)
		var g, w any
		if err := json.Unmarshal(AppendStepsJSON(nil, steps), &g); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("got %s, want %s", AppendStepsJSON(nil, steps), want)
		}
	})
}
