package web

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/templates"
)

// prices is the price list every signed-in person may read: for each
// cluster, the rate card in force now, per partition in words and as a
// table, with the QOS multipliers. Per-account prices and discounts are
// left out: they are one account's business (its receipts show them).
func (s *Server) prices(w http.ResponseWriter, r *http.Request, v *Viewer) {
	cards, err := s.billing.Cards(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	now := time.Now()
	var lists []templates.PriceList
	seen := map[*billing.RateCard]int{} // a card for every cluster is listed once, naming them all
	for _, c := range s.clusters {
		card := cards.InForce(c.Name, now)
		if card == nil {
			lists = append(lists, templates.PriceList{Clusters: []string{c.Name}})
			continue
		}
		if i, ok := seen[card]; ok {
			lists[i].Clusters = append(lists[i].Clusters, c.Name)
			continue
		}
		seen[card] = len(lists)
		lists = append(lists, priceList(card, c.Name))
	}
	if len(s.clusters) == 1 {
		lists[0].Clusters = nil
	}
	s.render(w, r, http.StatusOK, templates.Prices(s.page(r, "Prices"), lists))
}

// priceList describes one card in force.
func priceList(card *billing.RateCard, cluster string) templates.PriceList {
	l := templates.PriceList{Clusters: []string{cluster}, Card: card.Name, Version: card.Version, Currency: card.Currency,
		From: templates.Timestamp(card.EffectiveFrom), Basis: card.Basis}
	if l.Basis == "" {
		l.Basis = "requested"
	}
	parts := make([]string, 0, len(card.Partitions))
	for p := range card.Partitions {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	for _, name := range parts {
		p := card.Partitions[name]
		row := templates.PriceRow{Partition: name, Words: priceWords(p, card.Currency, l.Basis),
			CPU: unitPrice(p.CPU), Mem: unitPrice(p.Mem), GPU: unitPrice(p.GPU), Node: unitPrice(p.Node),
			Billing: unitPrice(p.Billing), CPUTime: unitPrice(p.CPUTime), Fee: unitPrice(p.FixedFee), Min: unitPrice(p.MinCharge)}
		if name == "*" {
			row.Partition = "any other"
		}
		types := make([]string, 0, len(p.GPUTypes))
		for t := range p.GPUTypes {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			row.GPUTypes = append(row.GPUTypes, t+" "+unitPrice(ptr(p.GPUTypes[t])))
		}
		l.Rows = append(l.Rows, row)
	}
	qos := make([]string, 0, len(card.QOS))
	for q := range card.QOS {
		qos = append(qos, q)
	}
	sort.Strings(qos)
	for _, q := range qos {
		l.QOS = append(l.QOS, templates.QOSRow{Name: q, Multiplier: card.QOS[q].String()})
	}
	l.States = card.ChargedStates
	if len(l.States) == 0 {
		l.States = billing.DefaultChargedStates()
	}
	return l
}

func ptr(m billing.Micros) *billing.Micros { return &m }

// unitPrice prints a unit price exactly (never rounded: it multiplies
// hours), without the trailing zeros of its micro-units beyond two.
func unitPrice(m *billing.Micros) string {
	if m == nil {
		return ""
	}
	s := m.String()
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return s
}

// priceWords says what a partition charges for, in a sentence.
func priceWords(p billing.Prices, currency, basis string) string {
	var tres []string
	add := func(m *billing.Micros, what string) {
		if m != nil {
			tres = append(tres, unitPrice(m)+" "+currency+" per "+what)
		}
	}
	add(p.CPU, "core-hour")
	add(p.Mem, "GiB-hour of memory")
	types := make([]string, 0, len(p.GPUTypes))
	for t := range p.GPUTypes {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		add(ptr(p.GPUTypes[t]), t+" GPU-hour")
	}
	if p.GPU != nil {
		what := "GPU-hour"
		if len(types) > 0 {
			what = "GPU-hour of any other type"
		}
		add(p.GPU, what)
	}
	add(p.Node, "node-hour")
	add(p.Billing, "hour of Slurm's billing units")
	var parts []string
	if len(tres) > 0 {
		which := "asked for"
		if basis == "allocated" {
			which = "allocated"
		}
		sentence := strings.Join(tres, ", ")
		if p.Combine == "max" && len(tres) > 1 {
			sentence = "the largest one of " + strings.Join(tres, "; ")
		}
		parts = append(parts, "Charges "+sentence+", for what the job "+which+" over the time it ran")
	}
	if p.CPUTime != nil {
		parts = append(parts, "Charges "+unitPrice(p.CPUTime)+" "+currency+" per CPU-hour the job actually used (the CPU time Slurm records), however many CPUs it held")
	}
	if p.FixedFee != nil {
		parts = append(parts, "Adds "+unitPrice(p.FixedFee)+" "+currency+" per job")
	}
	if p.MinCharge != nil {
		parts = append(parts, "Charges at least "+unitPrice(p.MinCharge)+" "+currency+" per job")
	}
	if len(parts) == 0 {
		return "Free: this partition charges for nothing."
	}
	return strings.Join(parts, ". ") + "."
}

// wasteRuleWords is billing.Waste() in a sentence, for the pages that
// flag wasteful jobs.
func wasteRuleWords(pol billing.Policy, currency string) string {
	w := billing.Waste()
	return "charged " + pol.Money(w.MinCost, currency) + " or more while using under " + templates.Percent(&w.BelowPPM) +
		" of the CPU time they held (CPU time ÷ elapsed × CPUs; Slurm's records carry no GPU utilisation, so GPU jobs are judged by it too)."
}
