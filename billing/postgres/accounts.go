package postgres

import (
	"context"
	"net/mail"
	"strings"

	"github.com/tally-hpc/tally/billing"
)

// AccountDetails is what admins keep about an account for statements.
type AccountDetails struct {
	Account      string
	DisplayName  string
	PI           string
	ContactEmail string
	CostCentre   string
	PONumber     string
	Active       bool
	Known        bool // stored, not just defaulted
}

// AccountDetailsAll lists every account Tally knows of (from associations
// and jobs) with its details, if any.
func (s *PeriodStore) AccountDetailsAll(ctx context.Context) (_ []AccountDetails, err error) {
	defer annotate(&err, "reading account details")
	rows, err := s.pool.Query(ctx, `WITH known AS (
			SELECT account FROM slurm_associations UNION SELECT DISTINCT account FROM jobs WHERE account <> ''
			UNION SELECT account FROM account_details)
		SELECT k.account, coalesce(d.display_name, ''), coalesce(d.pi, ''), coalesce(d.contact_email, ''),
			coalesce(d.cost_centre, ''), coalesce(d.po_number, ''), coalesce(d.active, true), d.account IS NOT NULL
		FROM known k LEFT JOIN account_details d ON d.account = k.account ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountDetails
	for rows.Next() {
		var d AccountDetails
		if err := rows.Scan(&d.Account, &d.DisplayName, &d.PI, &d.ContactEmail, &d.CostCentre, &d.PONumber, &d.Active, &d.Known); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SaveAccountDetails stores an account's details after checking them.
func (s *PeriodStore) SaveAccountDetails(ctx context.Context, d AccountDetails, by string) (err error) {
	defer annotate(&err, "saving the details of %s", d.Account)
	d.Account = strings.TrimSpace(d.Account)
	if d.Account == "" {
		return billing.Invalidf("account name is required")
	}
	if d.ContactEmail != "" {
		if _, err := mail.ParseAddress(d.ContactEmail); err != nil {
			return billing.Invalidf("billing contact %q is not an e-mail address", d.ContactEmail)
		}
	}
	for _, f := range []string{d.DisplayName, d.PI, d.CostCentre, d.PONumber} {
		if len(f) > 200 {
			return billing.Invalidf("fields are limited to 200 characters")
		}
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO account_details (account, display_name, pi, contact_email, cost_centre, po_number, active, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account) DO UPDATE SET display_name = EXCLUDED.display_name, pi = EXCLUDED.pi, contact_email = EXCLUDED.contact_email,
			cost_centre = EXCLUDED.cost_centre, po_number = EXCLUDED.po_number, active = EXCLUDED.active, updated_at = now(), updated_by = EXCLUDED.updated_by`,
		d.Account, strings.TrimSpace(d.DisplayName), strings.TrimSpace(d.PI), strings.TrimSpace(d.ContactEmail),
		strings.TrimSpace(d.CostCentre), strings.TrimSpace(d.PONumber), d.Active, by)
	return err
}

// detailsMap returns stored details by account.
func (s *PeriodStore) detailsMap(ctx context.Context) (map[string]AccountDetails, error) {
	all, err := s.AccountDetailsAll(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]AccountDetails{}
	for _, d := range all {
		m[d.Account] = d
	}
	return m, nil
}
