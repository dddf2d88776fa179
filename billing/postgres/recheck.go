package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tally-hpc/tally/billing"
)

// Recheck recomputes every charge of a period from its job and the rate
// cards, and (for a closed period) every statement from its charges, and
// describes each difference. None is expected: a difference means a job or
// a charge changed behind Tally's back.
func (s *RatingStore) Recheck(ctx context.Context, name string, rule billing.Rounding) (checked int, diffs []string, err error) {
	p, err := s.periods.Period(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	cards, err := s.cards.Cards(ctx)
	if err != nil {
		return 0, nil, err
	}
	rater := billing.Rater{Cards: cards, Rounding: rule}
	rows, err := s.pool.Query(ctx, `SELECT c.portion_start, c.portion_end, c.total_micros, `+jobColumns+`
		FROM job_charges c JOIN jobs j ON j.id = c.job_row AND j.submit_time = c.job_submit WHERE c.period_id = $1 AND j.end_time IS NOT NULL`, p.ID)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ps, pe time.Time
		var stored int64
		var ur usageRow
		if err := rows.Scan(append([]any{&ps, &pe, &stored}, ur.dest()...)...); err != nil {
			return checked, diffs, err
		}
		_, u := ur.usage()
		from, to := ps, pe
		if u.Start.IsZero() {
			from = time.Time{}
		}
		ch, err := rater.RatePortion(u, from, to, pe.Equal(u.End))
		checked++
		switch {
		case err != nil:
			diffs = append(diffs, fmt.Sprintf("job %d (%s): stored %s, cannot be recomputed: %v", u.JobID, u.Account, billing.Micros(stored), err))
		case int64(ch.Total) != stored:
			diffs = append(diffs, fmt.Sprintf("job %d (%s): stored %s, recomputed %s", u.JobID, u.Account, billing.Micros(stored), ch.Total))
		}
	}
	if err := rows.Err(); err != nil {
		return checked, diffs, err
	}
	if p.Closed() {
		diffs = append(diffs, s.recheckStatements(ctx, p, rule)...)
	}
	return checked, diffs, nil
}

// recheckStatements compares a closed period's issued statements with the
// same computation over its charges now, and each statement's hash with
// its stored text.
func (s *RatingStore) recheckStatements(ctx context.Context, p Period, rule billing.Rounding) []string {
	pol, err := s.cards.Policy(ctx, rule)
	if err != nil {
		return []string{err.Error()}
	}
	frozen := map[int64][]Statement{}
	if err := issued(ctx, s.pool, []Period{p}, nil, frozen); err != nil {
		return []string{err.Error()}
	}
	sums, err := chargeSums(ctx, s.pool, []int64{p.ID}, ChargeScope{})
	if err != nil {
		return []string{err.Error()}
	}
	var diffs []string
	byAccount := map[string]Statement{}
	for _, st := range frozen[p.ID] {
		if st.Hash(p) != st.SHA256 {
			diffs = append(diffs, fmt.Sprintf("statement %s (%s): its lines no longer match its SHA-256", st.Number, st.Account))
		}
		byAccount[st.Account] = st
	}
	for _, st := range pol.BuildStatements(sums[p.ID]) {
		f, ok := byAccount[st.Account]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("account %s has charges but no statement", st.Account))
		case f.Total != st.Total:
			diffs = append(diffs, fmt.Sprintf("statement %s (%s): stored %s, recomputed from charges %s", f.Number, st.Account, f.Total, st.Total))
		}
		delete(byAccount, st.Account)
	}
	for acct, f := range byAccount {
		diffs = append(diffs, fmt.Sprintf("statement %s (%s) has no charges behind it", f.Number, acct))
	}
	return diffs
}
