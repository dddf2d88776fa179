package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPIClientToken(t *testing.T) {
	const tok = "tly_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
	for _, c := range []struct {
		name    string
		env     string // TALLY_TOKEN
		file    string // written to $HOME/.config/tally/token when not ""
		mode    os.FileMode
		want    string
		wantErr string
	}{
		{"from the environment", tok, "", 0, tok, ""},
		{"the environment wins", tok, "tly_other", 0o600, tok, ""},
		{"from the file", "", tok + "\n", 0o600, tok, ""},
		{"owner-only read is fine", "", tok, 0o400, tok, ""},
		{"group-readable file refused", "", tok, 0o640, "", "chmod 600"},
		{"world-readable file refused", "", tok, 0o604, "", "chmod 600"},
		{"empty file", "", "\n", 0o600, "", "is empty"},
		{"nothing at all", "", "", 0, "", "no API token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			if c.file != "" {
				dir := filepath.Join(home, ".config", "tally")
				os.MkdirAll(dir, 0o700)
				p := filepath.Join(dir, "token")
				if err := os.WriteFile(p, []byte(c.file), 0o600); err != nil {
					t.Fatal(err)
				}
				os.Chmod(p, c.mode)
			}
			env := map[string]string{"HOME": home, "TALLY_TOKEN": c.env}
			got, err := apiToken(func(k string) string { return env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestAPIClientCalls(t *testing.T) {
	var seen *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		switch r.URL.Path {
		case "/api/v1/me":
			w.Write([]byte(`{"slurm_user":"alice"}`))
		default:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
		}
	}))
	defer srv.Close()
	c, err := newAPIClient(srv.URL+"/", "tly_x")
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		SlurmUser string `json:"slurm_user"`
	}
	if err := c.get(context.Background(), "/me", nil, &me); err != nil || me.SlurmUser != "alice" {
		t.Fatalf("%+v %v", me, err)
	}
	if seen.Header.Get("Authorization") != "Bearer tly_x" || seen.Header.Get("Cookie") != "" {
		t.Errorf("sent %v", seen.Header)
	}
	err = c.get(context.Background(), "/jobs", url.Values{"limit": {"1"}}, &me)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != "rate_limited" || ae.RetryAfter != 7*time.Second || seen.URL.RawQuery != "limit=1" {
		t.Fatalf("%#v", err)
	}

	for base, ok := range map[string]bool{"https://tally.example.org": true, "http://127.0.0.1:8080": true, "http://localhost:8080": true,
		"http://tally.example.org": false, "tally.example.org": false, "ftp://tally.example.org": false} {
		if _, err := newAPIClient(base, "t"); (err == nil) != ok {
			t.Errorf("%s: %v", base, err)
		}
	}
}

func TestAPIConfigOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"https://OnDemand.example.org/, http://localhost:3000": "https://ondemand.example.org http://localhost:3000",
		"":                               "",
		"*":                              "error",
		"https://ondemand.example.org/x": "error",
		"ondemand.example.org":           "error",
	} {
		c := &Config{APICORSOrigins: in, APIRateLimit: 120}
		got, err := c.apiConfig()
		if want == "error" {
			if err == nil {
				t.Errorf("%q accepted", in)
			}
			continue
		}
		if err != nil || strings.Join(got.CORSOrigins, " ") != want || got.RatePerMinute != 120 {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := (&Config{APIRateLimit: -1}).apiConfig(); err == nil {
		t.Error("a negative rate limit accepted")
	}
}
