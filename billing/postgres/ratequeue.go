package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-hpc/tally/billing"
)

// ratingFingerprint names everything a job's charge depends on besides
// the job itself: the rate card versions (read-only once stored, so their
// ids suffice), the periods and their states, the options and, under split
// attribution, which periods have ended (running jobs are charged for those).
func ratingFingerprint(cards billing.Cards, periods []Period, opt RateOptions, now time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "attribution=%s rounding=%s\n", opt.Attribution, opt.Rounding)
	for _, c := range cards {
		fmt.Fprintf(h, "card %d\n", c.ID)
	}
	for _, p := range periods {
		fmt.Fprintf(h, "period %d %d %d %s", p.ID, p.Starts.Unix(), p.Ends.Unix(), p.Status)
		if opt.Attribution == "split" && !p.Ends.After(now) {
			fmt.Fprint(h, " ended")
		}
		fmt.Fprintln(h)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// endsLater is true for a queued job whose record says it ends in the
// future: it stays queued, so the first run after its end rates it.
const endsLater = `EXISTS (SELECT 1 FROM jobs j WHERE j.id = q.job_row AND j.end_time > now())`

// takeQueue empties the queue of jobs written since the last rating run
// (migration 00011) within tx. When onlyChanged is asked for and the last
// full run had the same fingerprint it returns the queued jobs (an empty,
// non-nil slice when there are none); otherwise nil, meaning "rate every
// job", and records fp as the fingerprint of this full run.
func takeQueue(ctx context.Context, tx pgx.Tx, onlyChanged bool, fp string) ([]int64, error) {
	if onlyChanged {
		var last string
		err := tx.QueryRow(ctx, `SELECT fingerprint FROM rating_state`).Scan(&last)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if last == fp {
			rows, _ := tx.Query(ctx, `DELETE FROM jobs_unrated q WHERE NOT `+endsLater+` RETURNING job_row`)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return nil, fmt.Errorf("rating queue: %w", err)
			}
			slices.Sort(ids)
			return append([]int64{}, slices.Compact(ids)...), nil
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM jobs_unrated q WHERE NOT `+endsLater); err != nil {
		return nil, fmt.Errorf("rating queue: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO rating_state (fingerprint) VALUES ($1)
		ON CONFLICT (only_row) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, rated_at = now()`, fp)
	return nil, err
}
