package slurm

import (
	"fmt"
	"io"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeJobsOracle is DecodeJobs as it was before the hand-written
// decoder: the v2 prototype's streaming decoder, by reflection, into
// wireJob and its UnmarshalJSON methods. It defines what DecodeJobs must
// do, and the differential tests hold DecodeJobs to it.
func decodeJobsOracle(r io.Reader, fn func(Job) error) (JobsAnswer, error) {
	var ans JobsAnswer
	// Slurm writes job names' bytes as they are; CleanText repairs them
	// rather than the whole answer being refused.
	dec := jsontext.NewDecoder(r, jsontext.AllowInvalidUTF8(true))
	if err := expectKind(dec, '{'); err != nil {
		return ans, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return ans, truncated(err)
		}
		switch tok.String() {
		case "errors":
			if err := jsonv2.UnmarshalDecode(dec, &ans.Errors); err != nil {
				return ans, fmt.Errorf("errors: %w", truncated(err))
			}
		case "warnings":
			var ws []struct {
				Description string `json:"description"`
				Source      string `json:"source"`
			}
			if err := jsonv2.UnmarshalDecode(dec, &ws); err != nil {
				return ans, fmt.Errorf("warnings: %w", truncated(err))
			}
			for _, w := range ws {
				ans.Warnings = append(ans.Warnings, strings.TrimSpace(w.Description+" "+w.Source))
			}
		case "jobs":
			if err := expectKind(dec, '['); err != nil {
				return ans, err
			}
			for dec.PeekKind() != ']' {
				if dec.PeekKind() == 0 {
					_, err := dec.ReadToken()
					return ans, truncated(err)
				}
				var w wireJob
				if err := jsonv2.UnmarshalDecode(dec, &w); err != nil {
					return ans, fmt.Errorf("job record %d: %w", ans.Jobs+1, truncated(err))
				}
				j, err := w.normalize()
				if err != nil {
					return ans, fmt.Errorf("job record %d: %w", ans.Jobs+1, err)
				}
				j.cleanText()
				ans.Jobs++
				if err := fn(j); err != nil {
					return ans, err
				}
			}
			if _, err := dec.ReadToken(); err != nil {
				return ans, truncated(err)
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return ans, truncated(err)
			}
		}
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return ans, truncated(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return ans, truncated(err)
	}
	return ans, nil
}
