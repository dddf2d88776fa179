package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SupportedVersions are the slurmdb API versions Tally reads, newest first.
func SupportedVersions() []string {
	return []string{"v0.0.44", "v0.0.43", "v0.0.42", "v0.0.41", "v0.0.40", "v0.0.39", "v0.0.38", "v0.0.37", "v0.0.36"}
}

func minor(v string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(v, "v0.0."))
	return n
}

// CredentialSource supplies a credential and drops one slurmrestd refused.
type CredentialSource interface {
	Credential(ctx context.Context) (Credential, error)
	Invalidate()
}

// Retry says how often and how patiently transient failures are retried.
type Retry struct {
	Attempts int           // total tries for transport errors, 502, 503, 504
	Backoff  time.Duration // first pause, doubled each time
}

// DefaultRetry suits a slurmrestd on the local network.
func DefaultRetry() Retry { return Retry{Attempts: 3, Backoff: 500 * time.Millisecond} }

// transientError is a failure worth retrying.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// DiscoverVersion finds the newest slurmdb version both slurmrestd and
// Tally know, from the paths of /openapi/v3.
func (c *Client) DiscoverVersion(ctx context.Context, creds CredentialSource) (string, error) {
	paths, err := c.openAPIPaths(ctx, creds)
	if err != nil {
		return "", err
	}
	return PickVersion(paths)
}

// openAPIPaths lists the paths of slurmrestd's /openapi/v3 document.
func (c *Client) openAPIPaths(ctx context.Context, creds CredentialSource) ([]string, error) {
	cred, err := creds.Credential(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.get(ctx, cred, "/openapi/v3", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, classifyOrError(resp.StatusCode, b)
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("openapi document: %w", truncated(err))
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	return paths, nil
}

// PickVersion picks, from the paths of slurmrestd's OpenAPI document, the
// newest slurmdb version that serves jobs and that Tally reads. Releases
// write the path with a trailing slash (24.05 and later: /slurmdb/v0.0.42/jobs/)
// or without (22.05, and 24.05's v0.0.39); both count. When none fits, the
// error lists the slurmdb paths that were seen.
func PickVersion(paths []string) (string, error) {
	return pickVersion(paths, "slurmdb", SupportedVersions())
}

// pickVersion picks the newest of supported (newest first) for which the
// paths offer /<api>/<version>/jobs, with or without a trailing slash.
func pickVersion(paths []string, api string, supported []string) (string, error) {
	offered := map[string]bool{}
	var seen []string
	for _, p := range paths {
		if !strings.HasPrefix(p, "/"+api+"/") {
			continue
		}
		seen = append(seen, p)
		parts := strings.Split(strings.Trim(p, "/"), "/") // api, vX, jobs
		if len(parts) == 3 && parts[2] == "jobs" {
			offered[parts[1]] = true
		}
	}
	for _, v := range supported {
		if offered[v] {
			return v, nil
		}
	}
	sort.Strings(seen)
	if len(seen) > 12 {
		seen = append(seen[:12], fmt.Sprintf("and %d more", len(seen)-12))
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	return "", fmt.Errorf("slurmrestd offers no %s jobs endpoint Tally reads (%s to %s); %s paths seen: %s",
		api, supported[len(supported)-1], supported[0], api, strings.Join(seen, ", "))
}

func classifyOrError(status int, body []byte) error {
	var doc struct {
		Errors []APIError `json:"errors"`
	}
	_ = json.Unmarshal(body, &doc)
	if err := classify(status, doc.Errors, excerpt(body)); err != nil {
		return err
	}
	return &ResponseError{Status: status, Body: excerpt(body)}
}

// JobsQuery builds the query of /slurmdb/vX/jobs for a window, as each
// version wants it.
func JobsQuery(version string, from, to time.Time) url.Values {
	q := url.Values{}
	if minor(version) >= 40 {
		q.Set("start_time", strconv.FormatInt(from.Unix(), 10))
		q.Set("end_time", strconv.FormatInt(to.Unix(), 10))
		// Without these slurmdbd clips times to the window and drops
		// requeued attempts.
		q.Set("show_duplicates", "true")
		q.Set("disable_truncate_usage_time", "true")
	} else {
		// 22.05 reads ISO times in the server's zone (UTC on clusters
		// Tally supports) and refuses epochs.
		q.Set("start_time", from.UTC().Format("2006-01-02T15:04:05"))
		q.Set("end_time", to.UTC().Format("2006-01-02T15:04:05"))
	}
	return q
}

// Jobs streams the job records of [from, to) to fn. Transport failures and
// 502/503/504 are retried with back-off while nothing has been delivered;
// an auth refusal gets a fresh credential and one more try. "Nothing found"
// is an empty window, not an error.
func (c *Client) Jobs(ctx context.Context, creds CredentialSource, version string, from, to time.Time, retry Retry, fn func(Job) error) (JobsAnswer, error) {
	if retry.Attempts < 1 {
		retry.Attempts = 1
	}
	pause := retry.Backoff
	authRetried := false
	for attempt := 1; ; attempt++ {
		delivered := 0
		ans, err := c.jobsOnce(ctx, creds, version, from, to, func(j Job) error { delivered++; return fn(j) })
		if err == nil {
			return ans, nil
		}
		switch {
		case errors.Is(err, ErrAuth) && !authRetried && delivered == 0:
			authRetried = true
			creds.Invalidate()
			continue
		case isTransient(err) && attempt < retry.Attempts && delivered == 0:
			select {
			case <-ctx.Done():
				return ans, ctx.Err()
			case <-time.After(pause):
			}
			pause *= 2
			continue
		}
		return ans, err
	}
}

func isTransient(err error) bool {
	var te *transientError
	if errors.As(err, &te) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, ErrTruncated)
}

func (c *Client) jobsOnce(ctx context.Context, creds CredentialSource, version string, from, to time.Time, fn func(Job) error) (JobsAnswer, error) {
	cred, err := creds.Credential(ctx)
	if err != nil {
		return JobsAnswer{}, err
	}
	resp, err := c.get(ctx, cred, "/slurmdb/"+version+"/jobs", JobsQuery(version, from, to))
	if err != nil {
		return JobsAnswer{}, &transientError{err}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := classifyOrError(resp.StatusCode, b)
		if errors.Is(err, ErrAuth) {
			return JobsAnswer{}, err
		}
		return JobsAnswer{}, &transientError{err}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return JobsAnswer{}, classifyOrError(resp.StatusCode, b)
	}
	// Errors may follow the records in the stream; records are staged, not
	// committed, so a late error still discards them.
	ans, err := DecodeJobs(resp.Body, fn)
	if err != nil {
		if cerr := classify(resp.StatusCode, ans.Errors, ""); cerr != nil {
			return ans, cerr
		}
		return ans, fmt.Errorf("slurmrestd jobs answer: %w", err)
	}
	if err := classify(resp.StatusCode, ans.Errors, ""); err != nil {
		return ans, err
	}
	return ans, nil
}
