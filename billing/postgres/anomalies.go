package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// Anomaly is something in a period to resolve or acknowledge before it is
// closed.
type Anomaly struct {
	Kind   string // unrated, unknown_account, unknown_user, ingest_gap, future_end, running, large_charge
	Count  int
	Detail string
	// Example is one of the anomaly's subjects, for a link to the jobs
	// behind it: an account (unknown_account), a user (unknown_user) or
	// a job id (future_end); "" for the others.
	Example string
}

// Anomalies checks a period before its close.
func (s *PeriodStore) Anomalies(ctx context.Context, name string) (_ []Anomaly, err error) {
	defer annotate(&err, "checking %s before its close", name)
	p, err := s.Period(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []Anomaly
	add := func(kind string, n int, detail string) {
		if n > 0 {
			out = append(out, Anomaly{Kind: kind, Count: n, Detail: detail})
		}
	}
	// example sets the subject of the anomaly just added.
	example := func(kind, subject string) {
		if len(out) > 0 && out[len(out)-1].Kind == kind {
			out[len(out)-1].Example = subject
		}
	}
	var n int
	var ex string

	// Jobs that ended in the period but carry no charge: rating failed.
	if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(min(j.partition || ' / ' || j.account), '') FROM jobs j
		WHERE j.end_time >= $1 AND j.end_time < $2 AND j.end_time <= now() AND NOT EXISTS (SELECT 1 FROM job_charges c WHERE c.job_row = j.id AND c.job_submit = j.submit_time)`,
		p.Starts, p.Ends).Scan(&n, &ex); err != nil {
		return nil, err
	}
	add("unrated", n, fmt.Sprintf("jobs ended in the period with no charge: no rate card in force, or no prices for their partition (e.g. %s); run tally rate after fixing the card", ex))

	// Accounts and users Slurm's associations do not know (when synced).
	var assoc int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM slurm_associations`).Scan(&assoc); err != nil {
		return nil, err
	}
	if assoc > 0 {
		if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT c.account), coalesce(min(c.account), '') FROM job_charges c
			WHERE c.period_id = $1 AND NOT EXISTS (SELECT 1 FROM slurm_associations a WHERE a.account = c.account)`, p.ID).Scan(&n, &ex); err != nil {
			return nil, err
		}
		add("unknown_account", n, "accounts charged that Slurm's associations do not list, e.g. "+ex)
		example("unknown_account", ex)
		if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT c.username), coalesce(min(c.username), '') FROM job_charges c
			WHERE c.period_id = $1 AND NOT EXISTS (SELECT 1 FROM slurm_associations a WHERE a.username = c.username)`, p.ID).Scan(&n, &ex); err != nil {
			return nil, err
		}
		add("unknown_user", n, "users charged without an association, e.g. "+ex)
		example("unknown_user", ex)
	}

	// Time in the period no successful ingest window covers.
	windows, err := jobstore.GoodWindows(ctx, s.pool, "", p.Starts, p.Ends)
	if err != nil {
		return nil, err
	}
	cursor := p.Starts
	var gaps []string
	limit := p.Ends
	if now := time.Now(); now.Before(limit) {
		limit = now
	}
	for _, w := range windows {
		if w.Start.Sub(cursor) > time.Hour {
			gaps = append(gaps, cursor.UTC().Format("01-02 15:04")+" → "+w.Start.UTC().Format("01-02 15:04"))
		}
		if w.End.After(cursor) {
			cursor = w.End
		}
	}
	if limit.Sub(cursor) > time.Hour {
		gaps = append(gaps, cursor.UTC().Format("01-02 15:04")+" → "+limit.UTC().Format("01-02 15:04"))
	}
	if len(gaps) > 0 {
		detail := "not ingested: " + gaps[0]
		if len(gaps) > 1 {
			detail += fmt.Sprintf(" and %d more", len(gaps)-1)
		}
		add("ingest_gap", len(gaps), detail+" (UTC); run tally ingest for that range")
	}

	// Records whose end time has not come yet: not charged until it has
	// (a clock wrong on a node, or a record edited by hand).
	if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(min(job_id::text || ' ends ' || to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')), '')
		FROM jobs WHERE end_time > now() AND coalesce(start_time, submit_time) < $1`, p.Ends).Scan(&n, &ex); err != nil {
		return nil, err
	}
	add("future_end", n, fmt.Sprintf("job records with an end time still to come (e.g. job %s UTC): not charged until that time passes; check the clocks of the nodes and slurmdbd", ex))
	job, _, _ := strings.Cut(ex, " ")
	example("future_end", job)

	// Jobs still running at the period's end.
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE start_time < $1 AND (end_time IS NULL OR end_time > $1) AND state = 'RUNNING'`,
		p.Ends).Scan(&n); err != nil {
		return nil, err
	}
	add("running", n, "jobs still running at the period's end: under split attribution they are charged up to it; under end attribution, in the period they end")

	// Charges far above the period's usual.
	var big int
	var top int64
	if err := s.pool.QueryRow(ctx, `WITH q AS (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY total_micros) AS p99 FROM job_charges WHERE period_id = $1)
		SELECT count(*), coalesce(max(total_micros), 0) FROM job_charges, q WHERE period_id = $1 AND total_micros > 10 * q.p99 AND total_micros > 100000000`,
		p.ID).Scan(&big, &top); err != nil {
		return nil, err
	}
	add("large_charge", big, fmt.Sprintf("charges above ten times the period's 99th percentile (largest %s)", billing.Micros(top)))
	return out, nil
}
