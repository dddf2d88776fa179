package postgres

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// WriteAdjustments exports a period's adjustments as CSV.
func (s *ExportStore) WriteAdjustments(ctx context.Context, w io.Writer, period string, accounts []string) (err error) {
	defer annotate(&err, "exporting the adjustments of %s", period)
	adj, err := s.periods.Adjustments(ctx, period, accounts)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"period", "id", "account", "user", "job_id", "amount", "reason", "author", "created"})
	for _, a := range adj {
		job := ""
		if a.JobID != nil {
			job = strconv.FormatInt(*a.JobID, 10)
		}
		cw.Write([]string{CSVSafe(a.Period), strconv.FormatInt(a.ID, 10), CSVSafe(a.Account), CSVSafe(a.User), job, a.Amount.String(),
			CSVSafe(a.Reason), CSVSafe(a.Author), a.Created.UTC().Format(time.RFC3339)})
	}
	cw.Flush()
	return cw.Error()
}
