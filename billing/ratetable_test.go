package billing

import (
	"slices"
	"testing"
)

func TestDiffCards(t *testing.T) {
	m := func(s string) *Micros {
		v, err := ParseMicros(s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	r := func(s string) Ratio {
		v, err := ParseRatio(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v3 := &RateCard{Name: "standard", Version: 3, Currency: "USD", Basis: "requested",
		Partitions: map[string]Prices{"cpu": {CPU: m("0.02"), Mem: m("0.003")}, "gpu": {GPU: m("1.50"), GPUTypes: map[string]Micros{"a100": *m("2")}}},
		QOS:        map[string]Ratio{"high": r("1.5")},
		Accounts:   map[string]AccountAdjust{"chem": {Multiplier: r("0.9"), Reason: "grant"}}}
	v4 := &RateCard{Name: "standard", Version: 4, Currency: "USD", Basis: "requested",
		Partitions: map[string]Prices{"cpu": {CPU: m("0.025"), Mem: m("0.003")}, "gpu": {GPU: m("1.50"), GPUTypes: map[string]Micros{"a100": *m("2"), "h100": *m("3.20")}}},
		QOS:        map[string]Ratio{"high": r("1.5")}}

	type row struct{ section, subject, item, old, new string }
	for _, c := range []struct {
		name     string
		old, new *RateCard
		changed  []row
		same     int // rows unchanged
	}{
		{"identical", v3, v3, nil, 11},
		{"v3 to v4", v3, v4, []row{
			{"Partition", "cpu", "CPU per core-hour", "0.02", "0.025"},
			{"Partition", "gpu", "GPU per GPU-hour (h100)", "", "3.2"},
			{"Account", "chem", "Multiplier", "0.9", ""},
			{"Account", "chem", "Reason", "grant", ""},
		}, 8},
		{"v4 back to v3", v4, v3, []row{
			{"Partition", "cpu", "CPU per core-hour", "0.025", "0.02"},
			{"Partition", "gpu", "GPU per GPU-hour (h100)", "3.2", ""},
			{"Account", "chem", "Multiplier", "", "0.9"},
			{"Account", "chem", "Reason", "", "grant"},
		}, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := DiffCards(c.old, c.new)
			var changed []row
			same := 0
			for _, x := range d {
				if x.Changed {
					changed = append(changed, row{x.Section, x.Subject, x.Item, x.Old, x.New})
				} else {
					same++
					if x.Old != x.New {
						t.Errorf("%+v unchanged with two values", x)
					}
				}
			}
			if !slices.Equal(changed, c.changed) || same != c.same {
				t.Errorf("changed %+v (%d same), want %+v (%d same)", changed, same, c.changed, c.same)
			}
		})
	}
	// One table order for both sides: the card first, then partitions
	// by name, each partition's prices in a fixed order.
	var order []string
	for _, x := range DiffCards(v3, v4) {
		order = append(order, x.Section+" "+x.Subject+" "+x.Item)
	}
	want := []string{"Card  Currency", "Card  Cluster", "Card  Basis", "Card  Charged states",
		"Partition cpu CPU per core-hour", "Partition cpu Memory per GiB-hour",
		"Partition gpu GPU per GPU-hour", "Partition gpu GPU per GPU-hour (a100)", "Partition gpu GPU per GPU-hour (h100)",
		"QOS high Multiplier", "Account chem Multiplier", "Account chem Reason"}
	if !slices.Equal(order, want) {
		t.Errorf("order:\n%q\nwant\n%q", order, want)
	}
}
