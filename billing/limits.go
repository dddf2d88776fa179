package billing

// The plausibility limits: far above any real job (the largest machines
// run jobs of a few hundred thousand cores for days), so a value past one
// is corrupt, misparsed or hostile. Ingest holds such a record back with a
// reason instead of billing it, and the estimate refuses such input; both
// read these, so what Tally will price is one set of bounds, and no job it
// prices comes near overflowing 64-bit arithmetic.
const (
	MaxPlausibleCPUs    = 500_000
	MaxPlausibleMemMiB  = 1 << 34 // 16 PiB
	MaxPlausibleGPUs    = 100_000
	MaxPlausibleElapsed = 5 * 365 * 24 * 3600 // seconds: five years
)
