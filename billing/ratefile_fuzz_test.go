package billing

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseRateFile: a rate file is either refused with a ValidationError
// naming its problems, or read into cards that survive being written back
// (the admin's "edit as next version") and read again unchanged.
func FuzzParseRateFile(f *testing.F) {
	std, err := os.ReadFile("testdata/standard.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(std))
	f.Add("name: jp\ncurrency: JPY\nversions:\n  - version: 1\n    effective_from: 2026-01-01T00:00:00Z\n    partitions:\n      cpu: {cpu: \"3\"}\n")
	f.Add("name: x\ncurrency: EUR\nminor_digits: 9\nversions: []\n")
	f.Add("name: x\ncurrency: USD\nversions:\n  - version: 1\n    effective_from: 2026-01-01\n    partitions:\n      gpu: {gpu: 1e400, min_charge: -1}\n")
	f.Add("{{{")
	f.Fuzz(func(t *testing.T, text string) {
		cards, err := ParseRateFile(strings.NewReader(text), nil)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, c := range cards {
			b, err := MarshalVersion(c)
			if err != nil {
				t.Fatalf("writing back version %d: %v", c.Version, err)
			}
			back, err := ParseRateFile(strings.NewReader(string(b)), nil)
			if err != nil {
				t.Fatalf("version %d written back is refused:\n%s\n%v", c.Version, b, err)
			}
			b2, err := MarshalVersion(back[0])
			if err != nil || string(b) != string(b2) {
				t.Fatalf("version %d changed on the way round:\n%s\n---\n%s", c.Version, b, b2)
			}
		}
	})
}
