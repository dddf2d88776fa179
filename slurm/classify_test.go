package slurm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Real slurmrestd 22.05 answers (testdata/testbed, recorded by the
// testbed's capture script) classified as the client must.
func TestClassifyRecordedAnswers(t *testing.T) {
	cases := []struct {
		file   string
		status int
		want   string // "ok", "auth" or "error"
	}{
		{"auth/slurmdb-expired-token.json", 200, "auth"},
		{"auth/slurmdb-garbage-token.json", 200, "auth"},
		{"auth/slurmdb-wrong-key.json", 200, "auth"},
		{"auth/slurmdb-bob-token-as-alice.json", 200, "auth"},
		{"auth/slurmdb-operator-token-as-alice.json", 200, "auth"},
		{"auth/slurmdb-no-headers.txt", 401, "auth"},
		{"auth/slurmdb-unknown-user.json", 200, "ok"},
		{"auth/slurmdb-minted-openssl-alice.json", 200, "ok"},
		{"slurmdb-v0.0.38-jobs-empty-window.json", 200, "ok"},
		{"errors/slurmdbd-down-slurmdb-jobs.json", 200, "error"},
		{"errors/epoch-start-time.json", 500, "error"},
		{"errors/unknown-path.txt", 404, "error"},
		{"errors/unencoded-colon.txt", 400, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/testbed", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Errors []APIError `json:"errors"`
			}
			body := ""
			if json.Unmarshal(b, &doc) != nil {
				body = excerpt(b)
			}
			err = classify(tc.status, doc.Errors, body)
			got := "error"
			switch {
			case err == nil:
				got = "ok"
			case errors.Is(err, ErrAuth):
				got = "auth"
			}
			if got != tc.want {
				t.Fatalf("classified %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}
