package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/web"
)

// apiConfig reads the JSON API's settings.
func (c *Config) apiConfig() (web.APIConfig, error) {
	if c.APIRateLimit < 0 {
		return web.APIConfig{}, fmt.Errorf("--api-rate-limit %d: give a number of requests per minute, or 0 for no limit", c.APIRateLimit)
	}
	var origins []string
	for _, o := range splitList(c.APICORSOrigins) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return web.APIConfig{}, fmt.Errorf("--api-cors-origins: %q is not an origin such as https://ondemand.example.org", o)
		}
		// Browsers send the origin as scheme://host[:port], lower case.
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return web.APIConfig{RatePerMinute: c.APIRateLimit, CORSOrigins: origins}, nil
}

// The client side of the API, for commands run by people on login nodes
// (tally balance): a personal token from TALLY_TOKEN or a file only its
// owner can read, sent as a bearer token and never anywhere else.

// apiToken finds the person's API token: $TALLY_TOKEN, else the file
// $XDG_CONFIG_HOME/tally/token (~/.config/tally/token). A file that its
// group or anyone else may read is refused: on a shared login node that
// is everyone's token.
func apiToken(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("TALLY_TOKEN")); t != "" {
		return t, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("no API token: set TALLY_TOKEN, or put one in ~/.config/tally/token (make it on Your account)")
		}
		dir = filepath.Join(home, ".config")
	}
	path := filepath.Join(dir, "tally", "token")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no API token: set TALLY_TOKEN, or put one in %s (make it on Your account)", path)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s may be read by others (mode %04o): run chmod 600 %s, and revoke the token if others could read it", path, st.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return t, nil
}

// apiClient calls one Tally's /api/v1.
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// newAPIClient is a client of the Tally at base (https://tally.example.org).
// Plain HTTP is refused but to this machine: the token would cross the
// network readable.
func newAPIClient(base, token string) (*apiClient, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not Tally's address (https://tally.example.org)", base)
	}
	if u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%s: the API token would cross the network unencrypted; use https://", base)
		}
	}
	return &apiClient{base: u, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an answer of the API other than 200.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // for rate_limited and unavailable
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("Tally answered %d %s: %s", e.Status, e.Code, e.Message)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (try again in %s)", e.RetryAfter)
	}
	return msg
}

// get reads path (under /api/v1) into out.
func (c *apiClient) get(ctx context.Context, path string, query url.Values, out any) error {
	u := *c.base
	u.Path += "/api/v1" + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("asking Tally: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading Tally's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode, Code: "unknown", Message: http.StatusText(resp.StatusCode)}
		var shape struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &shape) == nil && shape.Error.Code != "" {
			e.Code, e.Message = shape.Error.Code, shape.Error.Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the answer is not the JSON expected: %w", err)
	}
	return nil
}

// runAPI reads one API path and prints its JSON: the API from a login
// node's shell, with the person's own token.
func runAPI(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "api", `api [--url URL] PATH

Reads PATH of Tally's JSON API (/me, /jobs?account=physics, /jobs/totals,
/statements, ...; see docs/api.md) with your personal API token and prints
the answer. The token comes from TALLY_TOKEN, else ~/.config/tally/token
(readable by you only: chmod 600); make one on Your account. The address
is --url, else TALLY_URL.`)
	base := fs.String("url", os.Getenv("TALLY_URL"), "Tally's address (https://tally.example.org) [TALLY_URL]")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "/") {
		return usageErr("give one API path, such as /me or '/jobs?limit=10'")
	}
	if *base == "" {
		return usageErr("give Tally's address with --url or TALLY_URL")
	}
	token, err := apiToken(os.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	c, err := newAPIClient(*base, token)
	if err != nil {
		return fail("%v", err)
	}
	path, query, _ := strings.Cut(fs.Arg(0), "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return usageErr("the query of %s cannot be read: %v", fs.Arg(0), err)
	}
	var out json.RawMessage
	if err := c.get(ctx, strings.TrimPrefix(path, "/api/v1"), q, &out); err != nil {
		return fail("%v", err)
	}
	_, err = fmt.Fprintln(env.stdout, string(out))
	return err
}
