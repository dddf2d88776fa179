package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm"
)

// Adjustment is a credit (negative) or debit on an account in a period.
type Adjustment struct {
	ID      int64
	Period  string
	Account string
	User    string
	JobID   *int64 // the Slurm job id (the raw one of an array task), when it concerns one job
	// Job is Slurm's name for that job, 55387 or 55387_3 for an array
	// task: what AddAdjustment reads (JobID when empty) and Adjustments fill.
	Job     string
	Amount  billing.Micros
	Reason  string
	Author  string
	Created time.Time
}

// AddAdjustment records an adjustment against an open period.
func (s *PeriodStore) AddAdjustment(ctx context.Context, a Adjustment) (_ int64, err error) {
	defer annotate(&err, "adding an adjustment to %s in %s", a.Account, a.Period)
	a.Account, a.User, a.Reason = strings.TrimSpace(a.Account), strings.TrimSpace(a.User), strings.TrimSpace(a.Reason)
	switch {
	case a.Account == "":
		return 0, billing.InvalidFieldf("account", "give the account to adjust")
	case a.Amount == 0:
		return 0, billing.InvalidFieldf("amount", "give a non-zero amount: negative for a credit, positive for a debit")
	case a.Reason == "":
		return 0, billing.InvalidFieldf("reason", "give a reason: it is printed on the statement")
	}
	p, err := s.Period(ctx, a.Period)
	if err != nil {
		return 0, err
	}
	if p.Status == "closed" {
		return 0, billing.Conflictf("period %s is closed: enter the adjustment in the next open period", p.Name)
	}
	known, err := s.cards.KnownAccount(ctx, a.Account)
	if err != nil {
		return 0, err
	}
	if !known {
		return 0, billing.InvalidFieldf("account", "unknown account %q", a.Account)
	}
	var jobRow *int64
	if a.Job == "" && a.JobID != nil {
		a.Job = strconv.FormatInt(*a.JobID, 10)
	}
	if a.Job != "" {
		ref, ok := slurm.ParseJobRef(a.Job)
		if !ok {
			return 0, billing.InvalidFieldf("job", "job %q: give Slurm's job id, such as 55387, or 55387_3 for an array task", a.Job)
		}
		args := []any{a.Account}
		cond := jobRefCond(ref, &args)
		// An id Slurm gave several of the account's jobs (each attempt of a
		// requeued job) names the one submitted last, as its receipt does.
		var row int64
		err := s.pool.QueryRow(ctx, `SELECT j.id FROM jobs j WHERE j.account = $1 AND `+cond+` ORDER BY `+newestFirst+` LIMIT 1`, args...).Scan(&row)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, billing.InvalidFieldf("job", "job %s is not a job of account %s", ref, a.Account)
		}
		if err != nil {
			return 0, err
		}
		jobRow = &row
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO adjustments (period_id, account, username, job_row, amount_micros, reason, author)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, p.ID, a.Account, a.User, jobRow, int64(a.Amount), a.Reason, a.Author).Scan(&id)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" {
		return 0, billing.Conflictf("period %s is closed: enter the adjustment in the next open period", p.Name)
	}
	return id, err
}

// Adjustments lists a period's adjustments, for accounts (nil: all).
func (s *PeriodStore) Adjustments(ctx context.Context, period string, accounts []string) (_ []Adjustment, err error) {
	defer annotate(&err, "reading the adjustments of %s", period)
	args := []any{period}
	cond := ""
	if accounts != nil {
		args = append(args, accounts)
		cond = " AND a.account = ANY($2)"
	}
	rows, err := s.pool.Query(ctx, `SELECT a.id, p.name, a.account, a.username, j.job_id, j.array_job_id, j.array_task_id, a.amount_micros, a.reason, a.author, a.created_at
		FROM adjustments a JOIN billing_periods p ON p.id = a.period_id LEFT JOIN jobs j ON j.id = a.job_row
		WHERE p.name = $1`+cond+` ORDER BY a.account, a.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Adjustment
	for rows.Next() {
		var a Adjustment
		var amt int64
		var arrayJob *int64
		var task *int64
		if err := rows.Scan(&a.ID, &a.Period, &a.Account, &a.User, &a.JobID, &arrayJob, &task, &amt, &a.Reason, &a.Author, &a.Created); err != nil {
			return nil, err
		}
		if a.JobID != nil {
			a.Job = slurm.RefOf(*a.JobID, *arrayJob, task).String()
		}
		a.Amount = billing.Micros(amt)
		out = append(out, a)
	}
	return out, rows.Err()
}
