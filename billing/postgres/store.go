package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Store is billing's PostgreSQL storage, one small store per feature:
// rate cards, rating, periods and statements, reports, exports. Callers
// depend on the few methods they use (interfaces declared where they are
// used); Store carries them all for wiring.
type Store struct {
	*CardStore
	*RatingStore
	*PeriodStore
	*ReportStore
	*ExportStore
	*BudgetStore
	*AlertStore
	*HoldStore
	*ArchiveStore
}

// New returns the stores on one pool.
func New(pool *pgxpool.Pool) *Store {
	cards := &CardStore{pool: pool}
	periods := &PeriodStore{pool: pool, cards: cards}
	return &Store{
		CardStore:    cards,
		RatingStore:  &RatingStore{pool: pool, cards: cards, periods: periods},
		PeriodStore:  periods,
		ReportStore:  &ReportStore{pool: readPool{pool}},
		ExportStore:  &ExportStore{pool: readPool{pool}, cards: cards, periods: periods},
		BudgetStore:  &BudgetStore{pool: pool, cards: cards, periods: periods},
		AlertStore:   &AlertStore{pool: pool},
		HoldStore:    &HoldStore{pool: pool},
		ArchiveStore: &ArchiveStore{pool: pool},
	}
}

// PeriodStore keeps billing periods, their statements (previews, closes,
// what a person or a viewer's scope was charged), adjustments, account
// details and the checks before a close.
type PeriodStore struct {
	pool  *pgxpool.Pool
	cards *CardStore
}

// RatingStore rates jobs into charges and keeps the daily usage rollup
// that follows them.
type RatingStore struct {
	pool    *pgxpool.Pool
	cards   *CardStore
	periods *PeriodStore
}

// ReportStore reads job lists, receipts and usage summaries within a
// viewer's scope.
type ReportStore struct {
	pool readPool
}

// ExportStore writes the finance CSVs.
type ExportStore struct {
	pool    readPool
	cards   *CardStore
	periods *PeriodStore
}
