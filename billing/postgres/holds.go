package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
)

// HoldStore records the holds Tally places on accounts in Slurm when
// their budget runs out, so that it lifts its own holds and no others.
type HoldStore struct {
	pool *pgxpool.Pool
}

// Hold is one hold, active until LiftedAt.
type Hold struct {
	ID       int64
	BudgetID *int64 // nil once the budget is deleted
	Cluster  string
	Account  string
	HeldAt   time.Time
	LiftedAt *time.Time
	How      string // what was set in Slurm ("GrpSubmitJobs=0")
	Previous string // the limit it replaced, restored when lifted ("" for none)
	Reason   string
	DryRun   bool // recorded only: Slurm was not changed
}

const holdColumns = `id, budget_id, cluster, account, held_at, lifted_at, how, previous, reason, dry_run`

func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	err := row.Scan(&h.ID, &h.BudgetID, &h.Cluster, &h.Account, &h.HeldAt, &h.LiftedAt, &h.How, &h.Previous, &h.Reason, &h.DryRun)
	return h, err
}

// ActiveHolds lists the holds not yet lifted.
func (s *HoldStore) ActiveHolds(ctx context.Context) (_ []Hold, err error) {
	defer annotate(&err, "listing active holds")
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM budget_holds WHERE lifted_at IS NULL ORDER BY account, cluster, dry_run`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
}

// Holds lists the holds of accounts (nil: every account), active or
// lifted, newest first.
func (s *HoldStore) Holds(ctx context.Context, accounts []string) (_ []Hold, err error) {
	defer annotate(&err, "listing holds")
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM budget_holds
		WHERE $1::text[] IS NULL OR account = ANY($1) ORDER BY held_at DESC, id DESC`, accounts)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
}

// RecordHold records a hold before Slurm is changed, so that a crash
// after the change still leaves Tally knowing the hold is its own. A
// second active hold of the same kind on the account is refused
// (billing.Conflict): another replica placed it.
func (s *HoldStore) RecordHold(ctx context.Context, h Hold) (_ Hold, err error) {
	defer annotate(&err, "recording the hold of %s", h.Account)
	h, err = scanHold(s.pool.QueryRow(ctx, `INSERT INTO budget_holds (budget_id, cluster, account, how, previous, reason, dry_run)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+holdColumns, h.BudgetID, h.Cluster, h.Account, h.How, h.Previous, h.Reason, h.DryRun))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return h, billing.Conflictf("%s on %s is held already", h.Account, h.Cluster)
	}
	return h, err
}

// ForgetHold removes a hold that Slurm refused to place.
func (s *HoldStore) ForgetHold(ctx context.Context, id int64) (err error) {
	defer annotate(&err, "forgetting hold %d", id)
	_, err = s.pool.Exec(ctx, `DELETE FROM budget_holds WHERE id = $1 AND lifted_at IS NULL`, id)
	return err
}

// RecordLift marks a hold lifted, after Slurm was changed back.
func (s *HoldStore) RecordLift(ctx context.Context, id int64) (err error) {
	defer annotate(&err, "recording the lift of hold %d", id)
	_, err = s.pool.Exec(ctx, `UPDATE budget_holds SET lifted_at = now() WHERE id = $1 AND lifted_at IS NULL`, id)
	return err
}
