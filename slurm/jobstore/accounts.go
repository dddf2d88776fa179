package jobstore

import (
	"context"
	"fmt"
)

// UserAccount is one account a person may charge, as Tally knows it.
type UserAccount struct {
	Cluster string
	Account string
	Default bool // Slurm's default account of the person on the cluster
	// JobsOnly: no association names it (Slurm's associations are not
	// read, or it was removed), but the person's jobs were charged to it.
	JobsOnly bool
}

// UserAccounts lists a person's accounts on every cluster: Slurm's
// associations as the last ingest read them, then accounts only their
// jobs name. Ordered by cluster and account.
func UserAccounts(ctx context.Context, q Querier, user string) ([]UserAccount, error) {
	rows, err := q.Query(ctx, `SELECT cluster, account, bool_or(is_default), bool_and(jobs_only) FROM (
			SELECT cluster, account, is_default, false AS jobs_only FROM slurm_associations WHERE username = $1
			UNION ALL
			SELECT DISTINCT cluster, account, false, true FROM jobs WHERE username = $1 AND account <> ''
		) a GROUP BY cluster, account ORDER BY cluster, account`, user)
	if err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", user, err)
	}
	defer rows.Close()
	var out []UserAccount
	for rows.Next() {
		var a UserAccount
		if err := rows.Scan(&a.Cluster, &a.Account, &a.Default, &a.JobsOnly); err != nil {
			return nil, fmt.Errorf("accounts of %s: %w", user, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", user, err)
	}
	return out, nil
}
