package billing

import (
	"cmp"
	"slices"
	"strings"
)

// RateEntry is one price or setting of a rate card version, as a row of
// a table people read (the YAML stays the form they edit).
type RateEntry struct {
	Section string // Card, Partition, Account price, QOS, Account
	Subject string // the partition ("*" for those not listed), "account / partition", the QOS or account; "" for the card
	Item    string // what is priced or set, with its unit
	Value   string // exact, as the card says it
	order   [2]int // section and item, so both cards of a diff sort alike
}

// key is what identifies a row across two versions of a card.
func (e RateEntry) key() string { return e.Section + "\x00" + e.Subject + "\x00" + e.Item }

func compareEntries(a, b RateEntry) int {
	return cmp.Or(cmp.Compare(a.order[0], b.order[0]), cmp.Compare(a.Subject, b.Subject),
		cmp.Compare(a.order[1], b.order[1]), cmp.Compare(a.Item, b.Item))
}

// Table lists every price and setting of the card, in a fixed order:
// the card's own settings, each partition's prices, account overrides,
// QOS multipliers, account multipliers.
func (c *RateCard) Table() []RateEntry {
	var out []RateEntry
	add := func(section, subject, item, value string, order [2]int) {
		out = append(out, RateEntry{Section: section, Subject: subject, Item: item, Value: value, order: order})
	}
	basis := c.Basis
	if basis == "" {
		basis = "requested"
	}
	states := strings.Join(c.ChargedStates, ", ")
	if len(c.ChargedStates) == 0 {
		states = strings.Join(DefaultChargedStates(), ", ") + " (default)"
	}
	cluster := c.Cluster
	if cluster == "" {
		cluster = "any"
	}
	add("Card", "", "Currency", c.Currency, [2]int{0, 0})
	add("Card", "", "Cluster", cluster, [2]int{0, 1})
	add("Card", "", "Basis", basis, [2]int{0, 2})
	add("Card", "", "Charged states", states, [2]int{0, 3})
	prices := func(section, subject string, rank int, p Prices) {
		if p.Combine != "" {
			add(section, subject, "Combine components", p.Combine, [2]int{rank, 0})
		}
		for i, x := range []struct {
			item string
			m    *Micros
		}{{"CPU per core-hour", p.CPU}, {"Memory per GiB-hour", p.Mem}, {"GPU per GPU-hour", p.GPU}, {"Node per node-hour", p.Node},
			{"Billing TRES per hour", p.Billing}, {"CPU time per CPU-hour used", p.CPUTime}, {"Fixed fee per job", p.FixedFee},
			{"Minimum charge per job", p.MinCharge}} {
			if x.m != nil {
				add(section, subject, x.item, trimZeros(x.m.String()), [2]int{rank, 1 + 2*i})
			}
		}
		for t, m := range p.GPUTypes {
			add(section, subject, "GPU per GPU-hour ("+t+")", trimZeros(m.String()), [2]int{rank, 6}) // after the plain GPU price
		}
	}
	for name, p := range c.Partitions {
		prices("Partition", name, 1, p)
	}
	for account, ps := range c.AccountPrices {
		for name, p := range ps {
			prices("Account price", account+" / "+name, 2, p)
		}
	}
	for q, r := range c.QOS {
		add("QOS", q, "Multiplier", r.String(), [2]int{3, 0})
	}
	for a, adj := range c.Accounts {
		add("Account", a, "Multiplier", adj.Multiplier.String(), [2]int{4, 0})
		if adj.Reason != "" {
			add("Account", a, "Reason", adj.Reason, [2]int{4, 1})
		}
	}
	slices.SortFunc(out, compareEntries)
	return out
}

// RateChange is one row of two card versions side by side: Old or New is
// "" where that version has no such price.
type RateChange struct {
	Section, Subject, Item string
	Old, New               string
	Changed                bool
}

// DiffCards sets two versions' tables side by side, every row of either
// in the tables' order, marking those whose value differs (added and
// removed prices included).
func DiffCards(old, new *RateCard) []RateChange {
	a, b := old.Table(), new.Table()
	rows := slices.Concat(a, b)
	slices.SortStableFunc(rows, compareEntries)
	oldVal := map[string]string{}
	for _, e := range a {
		oldVal[e.key()] = e.Value
	}
	newVal := map[string]string{}
	for _, e := range b {
		newVal[e.key()] = e.Value
	}
	var out []RateChange
	seen := map[string]bool{}
	for _, e := range rows {
		k := e.key()
		if seen[k] {
			continue
		}
		seen[k] = true
		o, inOld := oldVal[k]
		n, inNew := newVal[k]
		out = append(out, RateChange{Section: e.Section, Subject: e.Subject, Item: e.Item, Old: o, New: n, Changed: o != n || inOld != inNew})
	}
	return out
}
