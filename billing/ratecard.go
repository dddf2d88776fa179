package billing

import (
	"sort"
	"time"
)

// RateCard is one version of a named price list. Versions are complete
// snapshots; a job is rated with the version in force at its end.
type RateCard struct {
	ID            int64 // set once stored
	Name          string
	Version       int
	EffectiveFrom time.Time
	Cluster       string // "" for any cluster
	Currency      string // ISO 4217, e.g. USD
	MinorDigits   int    // decimals of the currency's minor unit (2)
	Basis         string // requested (default) or allocated
	ChargedStates []string
	QOS           map[string]Ratio         // multiplier per QOS; absent means 1
	Accounts      map[string]AccountAdjust // discount or subsidy per account
	Partitions    map[string]Prices        // "*" applies to partitions not listed
	// AccountPrices override a partition's prices for one account:
	// AccountPrices["chem"]["gpu"].
	AccountPrices map[string]map[string]Prices
}

// AccountAdjust multiplies an account's charges, with a reason receipts show.
type AccountAdjust struct {
	Multiplier Ratio
	Reason     string
}

// Prices are one partition's prices per unit-hour; nil means not charged.
type Prices struct {
	Combine   string            // sum (default) or max of the TRES components
	CPU       *Micros           // per core-hour
	Mem       *Micros           // per GiB-hour
	GPU       *Micros           // per GPU-hour, GPUs of a type without a price of its own
	GPUTypes  map[string]Micros // per GPU-hour of a type: "a100"
	Node      *Micros           // per node-hour
	Billing   *Micros           // per hour of Slurm's billing TRES
	CPUTime   *Micros           // per CPU-hour actually used (TotalCPU)
	FixedFee  *Micros           // per job
	MinCharge *Micros           // per job
}

// DefaultChargedStates are billed unless a card says otherwise; CANCELLED
// only if the job started. NODE_FAIL and BOOT_FAIL are the site's fault.
func DefaultChargedStates() []string {
	return []string{"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "PREEMPTED"}
}

// prices returns the prices for account on partition.
func (c *RateCard) prices(account, partition string) (Prices, bool) {
	if ap, ok := c.AccountPrices[account]; ok {
		if p, ok := ap[partition]; ok {
			return p, true
		}
	}
	if p, ok := c.Partitions[partition]; ok {
		return p, true
	}
	p, ok := c.Partitions["*"]
	return p, ok
}

func (c *RateCard) charges(state string) bool {
	states := c.ChargedStates
	if len(states) == 0 {
		states = DefaultChargedStates()
	}
	for _, s := range states {
		if s == state {
			return true
		}
	}
	return false
}

// Cards is every version of every card; it picks the one in force.
type Cards []*RateCard

// InForce returns the card version for cluster in force at t: the newest
// EffectiveFrom not after t, preferring a card scoped to the cluster.
func (cs Cards) InForce(cluster string, t time.Time) *RateCard {
	var best *RateCard
	for _, c := range cs {
		if c.EffectiveFrom.After(t) || (c.Cluster != "" && c.Cluster != cluster) {
			continue
		}
		if best == nil || better(c, best, cluster) {
			best = c
		}
	}
	return best
}

func better(c, than *RateCard, cluster string) bool {
	cs, ts := c.Cluster == cluster && cluster != "", than.Cluster == cluster && cluster != ""
	if cs != ts {
		return cs
	}
	return c.EffectiveFrom.After(than.EffectiveFrom)
}

// Sort orders versions by name and version.
func (cs Cards) Sort() {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Name != cs[j].Name {
			return cs[i].Name < cs[j].Name
		}
		return cs[i].Version < cs[j].Version
	})
}
