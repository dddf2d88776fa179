package billing

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The YAML form of rate cards, as `tally rates import` reads it and the
// admin pages show it. Prices are decimal strings so no float ever holds
// money: quote them ("0.02") or write them plain (0.02); both are read as
// exact decimals.
type fileCards struct {
	Name        string        `yaml:"name"`
	Currency    string        `yaml:"currency"`
	MinorDigits *int          `yaml:"minor_digits"`
	Cluster     string        `yaml:"cluster"`
	Versions    []fileVersion `yaml:"versions"`
}

type fileVersion struct {
	Version       int                              `yaml:"version"`
	EffectiveFrom string                           `yaml:"effective_from"`
	Basis         string                           `yaml:"basis"`
	ChargedStates []string                         `yaml:"charged_states"`
	QOS           map[string]decimalText           `yaml:"qos"`
	Accounts      map[string]fileAccount           `yaml:"accounts"`
	Partitions    map[string]filePrices            `yaml:"partitions"`
	AccountPrices map[string]map[string]filePrices `yaml:"account_prices"`
}

type fileAccount struct {
	Multiplier decimalText `yaml:"multiplier"`
	Reason     string      `yaml:"reason"`
}

type filePrices struct {
	Combine   string                 `yaml:"combine"`
	CPU       *decimalText           `yaml:"cpu"`
	Mem       *decimalText           `yaml:"mem"`
	GPU       *decimalText           `yaml:"gpu"`
	GPUTypes  map[string]decimalText `yaml:"gpu_types"`
	Node      *decimalText           `yaml:"node"`
	Billing   *decimalText           `yaml:"billing"`
	CPUTime   *decimalText           `yaml:"cpu_time"`
	FixedFee  *decimalText           `yaml:"fixed_fee"`
	MinCharge *decimalText           `yaml:"min_charge"`
}

// ValidationError lists every problem of a rate file, with where it is.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "rate card is not valid:\n  - " + strings.Join(e.Problems, "\n  - ")
}
func (e *ValidationError) ErrorKind() string   { return KindInvalid }
func (e *ValidationError) SafeMessage() string { return e.Error() }

// ParseRateFile reads the YAML rate file. knownPartitions, when not empty,
// are the partitions Slurm has; others are refused as typos.
func ParseRateFile(r io.Reader, knownPartitions []string) (Cards, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f fileCards
	if err := dec.Decode(&f); err != nil {
		return nil, &ValidationError{Problems: []string{"YAML: " + err.Error()}}
	}
	v := &validator{known: knownPartitions}
	if f.Name == "" {
		v.add("name: missing")
	}
	if len(f.Currency) != 3 || strings.ToUpper(f.Currency) != f.Currency {
		v.add("currency: %q is not an ISO 4217 code such as USD", f.Currency)
	}
	minor := DefaultMinorDigits(f.Currency)
	if f.MinorDigits != nil {
		minor = *f.MinorDigits
		if minor < 0 || minor > 6 {
			v.add("minor_digits: %d, want 0 to 6", minor)
		}
	}
	if len(f.Versions) == 0 {
		v.add("versions: none")
	}
	var cards Cards
	for i, fv := range f.Versions {
		cards = append(cards, v.version(fmt.Sprintf("versions[%d]", i), f, fv, minor))
	}
	// Versions must rise with their dates, and no two may start together.
	sorted := append(Cards(nil), cards...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if a.Version == b.Version {
			v.add("versions: version %d appears twice", a.Version)
		} else if !b.EffectiveFrom.After(a.EffectiveFrom) {
			v.add("versions: version %d (effective %s) does not start after version %d (effective %s): versions overlap",
				b.Version, b.EffectiveFrom.Format(time.RFC3339), a.Version, a.EffectiveFrom.Format(time.RFC3339))
		}
	}
	if len(v.problems) > 0 {
		return nil, &ValidationError{Problems: v.problems}
	}
	return cards, nil
}

type validator struct {
	known    []string
	problems []string
}

func (v *validator) add(format string, a ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, a...))
}

func (v *validator) version(at string, f fileCards, fv fileVersion, minor int) *RateCard {
	c := &RateCard{Name: f.Name, Version: fv.Version, Currency: f.Currency, MinorDigits: minor, Cluster: f.Cluster,
		Basis: fv.Basis, ChargedStates: fv.ChargedStates, QOS: map[string]Ratio{}, Accounts: map[string]AccountAdjust{},
		Partitions: map[string]Prices{}, AccountPrices: map[string]map[string]Prices{}}
	if fv.Version < 1 {
		v.add("%s.version: %d, want 1 or more", at, fv.Version)
	}
	t, err := time.Parse(time.RFC3339, fv.EffectiveFrom)
	if err != nil {
		v.add("%s.effective_from: %q is not a time such as 2026-10-15T00:00:00Z", at, fv.EffectiveFrom)
	}
	c.EffectiveFrom = t.UTC()
	switch c.Basis {
	case "":
		c.Basis = "requested"
	case "requested", "allocated":
	default:
		v.add("%s.basis: %q, want requested or allocated", at, fv.Basis)
	}
	for q, n := range fv.QOS {
		c.QOS[q] = v.ratio(at+".qos."+q, &n)
	}
	for a, fa := range fv.Accounts {
		c.Accounts[a] = AccountAdjust{Multiplier: v.ratio(at+".accounts."+a+".multiplier", &fa.Multiplier), Reason: fa.Reason}
	}
	if len(fv.Partitions) == 0 {
		v.add("%s.partitions: none", at)
	}
	for p, fp := range fv.Partitions {
		v.checkPartition(at+".partitions", p)
		c.Partitions[p] = v.prices(at+".partitions."+p, fp)
	}
	for a, ps := range fv.AccountPrices {
		c.AccountPrices[a] = map[string]Prices{}
		for p, fp := range ps {
			v.checkPartition(at+".account_prices."+a, p)
			c.AccountPrices[a][p] = v.prices(at+".account_prices."+a+"."+p, fp)
		}
	}
	return c
}

func (v *validator) checkPartition(at, p string) {
	if p == "*" || len(v.known) == 0 {
		return
	}
	for _, k := range v.known {
		if k == p {
			return
		}
	}
	v.add("%s: unknown partition %q (Slurm has %s)", at, p, strings.Join(v.known, ", "))
}

func (v *validator) prices(at string, fp filePrices) Prices {
	p := Prices{Combine: fp.Combine, GPUTypes: map[string]Micros{}}
	switch p.Combine {
	case "":
		p.Combine = "sum"
	case "sum", "max":
	default:
		v.add("%s.combine: %q, want sum or max", at, fp.Combine)
	}
	p.CPU = v.price(at+".cpu", fp.CPU)
	p.Mem = v.price(at+".mem", fp.Mem)
	p.GPU = v.price(at+".gpu", fp.GPU)
	p.Node = v.price(at+".node", fp.Node)
	p.Billing = v.price(at+".billing", fp.Billing)
	p.CPUTime = v.price(at+".cpu_time", fp.CPUTime)
	p.FixedFee = v.price(at+".fixed_fee", fp.FixedFee)
	p.MinCharge = v.price(at+".min_charge", fp.MinCharge)
	for t, n := range fp.GPUTypes {
		if m := v.price(at+".gpu_types."+t, &n); m != nil {
			p.GPUTypes[t] = *m
		}
	}
	return p
}

// decimalText keeps a YAML scalar exactly as written, so 0.1 is "0.1" and
// never passes through a float.
type decimalText struct {
	text   string
	scalar bool
}

func (d *decimalText) UnmarshalYAML(n *yaml.Node) error {
	d.text, d.scalar = n.Value, n.Kind == yaml.ScalarNode
	return nil
}

func scalar(n *decimalText) (string, bool) {
	if n == nil || !n.scalar {
		return "", false
	}
	return n.text, true
}

func (v *validator) price(at string, n *decimalText) *Micros {
	if n == nil {
		return nil
	}
	s, ok := scalar(n)
	if !ok {
		v.add("%s: want a price such as \"0.02\"", at)
		return nil
	}
	m, err := ParseMicros(s)
	if err != nil {
		v.add("%s: %v", at, err)
		return nil
	}
	if m < 0 {
		v.add("%s: negative price %s", at, s)
		return nil
	}
	return &m
}

func (v *validator) ratio(at string, n *decimalText) Ratio {
	s, ok := scalar(n)
	if !ok {
		v.add("%s: want a multiplier such as \"0.5\"", at)
		return One
	}
	r, err := ParseRatio(s)
	if err != nil {
		v.add("%s: %v", at, err)
		return One
	}
	if r < 0 {
		v.add("%s: negative multiplier %s", at, s)
	}
	return r
}

// MarshalVersion writes one card version back as a rate file with that
// single version, the form the admin edits to make the next version.
func MarshalVersion(c *RateCard) ([]byte, error) {
	mp := func(m *Micros) *string {
		if m == nil {
			return nil
		}
		s := trimZeros(m.String())
		return &s
	}
	type outPrices struct {
		Combine   string            `yaml:"combine,omitempty"`
		CPU       *string           `yaml:"cpu,omitempty"`
		Mem       *string           `yaml:"mem,omitempty"`
		GPU       *string           `yaml:"gpu,omitempty"`
		GPUTypes  map[string]string `yaml:"gpu_types,omitempty"`
		Node      *string           `yaml:"node,omitempty"`
		Billing   *string           `yaml:"billing,omitempty"`
		CPUTime   *string           `yaml:"cpu_time,omitempty"`
		FixedFee  *string           `yaml:"fixed_fee,omitempty"`
		MinCharge *string           `yaml:"min_charge,omitempty"`
	}
	conv := func(p Prices) outPrices {
		o := outPrices{Combine: p.Combine, CPU: mp(p.CPU), Mem: mp(p.Mem), GPU: mp(p.GPU), Node: mp(p.Node), Billing: mp(p.Billing),
			CPUTime: mp(p.CPUTime), FixedFee: mp(p.FixedFee), MinCharge: mp(p.MinCharge)}
		if len(p.GPUTypes) > 0 {
			o.GPUTypes = map[string]string{}
			for t, m := range p.GPUTypes {
				o.GPUTypes[t] = trimZeros(m.String())
			}
		}
		return o
	}
	type outAccount struct {
		Multiplier string `yaml:"multiplier"`
		Reason     string `yaml:"reason,omitempty"`
	}
	type outVersion struct {
		Version       int                             `yaml:"version"`
		EffectiveFrom string                          `yaml:"effective_from"`
		Basis         string                          `yaml:"basis"`
		ChargedStates []string                        `yaml:"charged_states,omitempty"`
		QOS           map[string]string               `yaml:"qos,omitempty"`
		Accounts      map[string]outAccount           `yaml:"accounts,omitempty"`
		Partitions    map[string]outPrices            `yaml:"partitions"`
		AccountPrices map[string]map[string]outPrices `yaml:"account_prices,omitempty"`
	}
	ov := outVersion{Version: c.Version, EffectiveFrom: c.EffectiveFrom.UTC().Format(time.RFC3339), Basis: c.Basis,
		ChargedStates: c.ChargedStates, QOS: map[string]string{}, Accounts: map[string]outAccount{},
		Partitions: map[string]outPrices{}, AccountPrices: map[string]map[string]outPrices{}}
	for q, r := range c.QOS {
		ov.QOS[q] = r.String()
	}
	for a, adj := range c.Accounts {
		ov.Accounts[a] = outAccount{Multiplier: adj.Multiplier.String(), Reason: adj.Reason}
	}
	for p, pr := range c.Partitions {
		ov.Partitions[p] = conv(pr)
	}
	for a, ps := range c.AccountPrices {
		ov.AccountPrices[a] = map[string]outPrices{}
		for p, pr := range ps {
			ov.AccountPrices[a][p] = conv(pr)
		}
	}
	out := struct {
		Name        string       `yaml:"name"`
		Currency    string       `yaml:"currency"`
		MinorDigits int          `yaml:"minor_digits"`
		Cluster     string       `yaml:"cluster,omitempty"`
		Versions    []outVersion `yaml:"versions"`
	}{c.Name, c.Currency, c.MinorDigits, c.Cluster, []outVersion{ov}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		if strings.HasSuffix(s, ".") {
			s += "00"
		}
	}
	return s
}
