package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrAuth means slurmrestd refused the credential: expired, badly signed,
// or for another user. Slurm releases say so differently (401 text, HTTP 200
// with error 1007, 500, 511, 502); the client folds them all into this.
var ErrAuth = errors.New("slurm refused the token (expired or not valid for this user)")

// Error numbers slurmrestd puts in its errors array.
const (
	errNothingFound = 9003 // an empty result, not a failure
	errProtocolAuth = 1007
)

// APIError is one entry of slurmrestd's errors array.
type APIError struct {
	Number      int    `json:"error_number"`
	Error       string `json:"error"`
	Description string `json:"description"`
	Source      string `json:"source"`
}

// ResponseError is a non-auth failure slurmrestd reported.
type ResponseError struct {
	Status int
	Errors []APIError
	Body   string // a short excerpt of a non-JSON body
}

func (e *ResponseError) Error() string {
	var parts []string
	for _, a := range e.Errors {
		s := fmt.Sprintf("error %d %s", a.Number, a.Error)
		if a.Description != "" {
			s += ": " + a.Description
		}
		if a.Source != "" {
			s += " (" + a.Source + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 && e.Body != "" {
		parts = append(parts, strings.TrimSpace(e.Body))
	}
	return fmt.Sprintf("slurmrestd HTTP %d: %s", e.Status, strings.Join(parts, "; "))
}

// Client talks to slurmrestd.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client for the slurmrestd at baseURL.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("slurmrestd URL %q: want http(s)://host:port", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Client{base: u, http: hc}, nil
}

// get sends an authenticated GET; the caller closes the body.
func (c *Client) get(ctx context.Context, cred Credential, path string, q url.Values) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode() // percent-encodes ':' as slurmrestd 22.05 requires
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-SLURM-USER-NAME", cred.User)
	req.Header.Set("X-SLURM-USER-TOKEN", cred.Token.Value)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("slurmrestd %s: %w", path, scrubURLError(err))
	}
	return resp, nil
}

// scrubURLError keeps the path of a failed request but drops its query.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classify turns a status and a decoded errors array into nil, ErrAuth or
// a ResponseError.
func classify(status int, errs []APIError, body string) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNetworkAuthenticationRequired:
		return ErrAuth
	}
	var real []APIError
	for _, e := range errs {
		switch e.Number {
		case errNothingFound:
			continue
		case errProtocolAuth:
			return ErrAuth
		}
		if strings.Contains(strings.ToLower(e.Error+" "+e.Description), "authentication") {
			return ErrAuth
		}
		real = append(real, e)
	}
	if status == http.StatusBadGateway && strings.Contains(strings.ToLower(body), "authentication") {
		return ErrAuth
	}
	if status >= 300 || len(real) > 0 {
		return &ResponseError{Status: status, Errors: real, Body: body}
	}
	return nil
}

// CheckAccess asks slurmdbd, through slurmrestd, for the credential's jobs
// of the last day and reports how many it sees. It proves a token works.
func (c *Client) CheckAccess(ctx context.Context, cred Credential, version string, now time.Time) (int, error) {
	q := url.Values{}
	q.Set("start_time", now.Add(-24*time.Hour).UTC().Format("2006-01-02T15:04:05"))
	q.Set("end_time", now.UTC().Format("2006-01-02T15:04:05"))
	resp, err := c.get(ctx, cred, "/slurmdb/"+version+"/jobs", q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("slurmrestd: reading answer: %w", err)
	}
	var doc struct {
		Errors []APIError `json:"errors"`
		Jobs   []struct {
			User string `json:"user"`
		} `json:"jobs"`
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &doc) != nil {
		return 0, classify(resp.StatusCode, nil, excerpt(b))
	}
	if err := classify(resp.StatusCode, doc.Errors, ""); err != nil {
		return 0, err
	}
	n := 0
	for _, j := range doc.Jobs {
		if j.User == cred.User {
			n++
		}
	}
	return n, nil
}

func excerpt(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
