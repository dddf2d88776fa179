package billing

// Wasteful jobs: what the account page and the coordinator's dashboard
// flag, and what the job list's wasteful=1 filter lists.
//
// A job record carries its CPU time and the CPUs it held over its
// elapsed time, not GPU utilisation; so a job is judged by its CPU
// efficiency (CPU time ÷ elapsed × CPUs, the receipt's figure) whether
// or not it held GPUs: a GPU job that kept its CPUs idle almost always
// kept its GPUs idle too. Cheap jobs are left alone: a test job at 5 %
// for a few cents is not worth anyone's attention.

// WasteRule says which charged jobs are wasteful.
type WasteRule struct {
	// BelowPPM: CPU efficiency under this share (millionths) ...
	BelowPPM int64
	// MinCost: ... and a charge of at least this (micro-units of the
	// job's currency).
	MinCost Micros
}

// Waste is the rule in use: under 20 % CPU efficiency, charged 10.00 or
// more (in the job's currency).
func Waste() WasteRule { return WasteRule{BelowPPM: 200_000, MinCost: 10_000_000} }

// Wasteful reports whether a job charged total at efficiency effPPM is
// wasteful. A job whose efficiency is unknown is not.
func (w WasteRule) Wasteful(effPPM *int64, total Micros) bool {
	return effPPM != nil && *effPPM >= 0 && *effPPM < w.BelowPPM && total >= w.MinCost
}

// Wasted is the part of a job's charge that paid for CPU time it did not
// use: total × (1 − efficiency), exact to the micro-unit under rule.
func Wasted(effPPM int64, total Micros, rule Rounding) Micros {
	if total <= 0 {
		return 0
	}
	effPPM = min(max(effPPM, 0), 1_000_000)
	return Micros(mulDivRound(uint64(total), uint64(1_000_000-effPPM), 1_000_000, rule))
}
