package slurm

import "testing"

func TestParseJobRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want JobRef
		ok   bool
	}{
		{"55387", JobRef{ID: 55387}, true},
		{" 55387_3 ", JobRef{ID: 55387, Task: 3, IsTask: true}, true},
		{"55387_0", JobRef{ID: 55387, Task: 0, IsTask: true}, true},
		{"55387_[1-9]", JobRef{}, false},
		{"55387_", JobRef{}, false},
		{"_3", JobRef{}, false},
		{"0", JobRef{}, false},
		{"-4", JobRef{}, false},
		{"+4", JobRef{}, false},
		{"4_-1", JobRef{}, false},
		{"4_+1", JobRef{}, false},
		{"relax", JobRef{}, false},
		{"123+1", JobRef{}, false},
		{"", JobRef{}, false},
	} {
		got, ok := ParseJobRef(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseJobRef(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok {
			if back, _ := ParseJobRef(got.String()); back != got {
				t.Errorf("%q does not read back: %q", c.in, got.String())
			}
		}
	}
	task := int64(3)
	for _, c := range []struct {
		id, array int64
		task      *int64
		want      string
	}{{55390, 55387, &task, "55387_3"}, {55387, 0, nil, "55387"}, {55387, 55387, nil, "55387"}} {
		if got := RefOf(c.id, c.array, c.task).String(); got != c.want {
			t.Errorf("RefOf(%d, %d, %v) = %q, want %q", c.id, c.array, c.task, got, c.want)
		}
	}
}
