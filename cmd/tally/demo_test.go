package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// tally demo starts, loads a synthetic cluster through the real ingest
// path, and every demo role sees a meaningful page.
func TestDemo(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("TALLY_DATABASE_URL", pool.Config().ConnString())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()

	if code, _, errOut := runCmd(t, "demo", "--addr", "0.0.0.0:8080"); code != 2 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("demo on a public address: %d %s", code, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdout: pw, stderr: io.Discard}, []string{"demo", "--addr", addr, "--months", "2", "--jobs-per-day", "60"})
		pw.Close()
	}()
	passwords := map[string]string{}
	sc := bufio.NewScanner(pr)
	deadline := time.After(2 * time.Minute)
	go func() { <-deadline; pw.CloseWithError(io.ErrUnexpectedEOF) }()
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 5 && f[0] == "demo" && f[1] == "user:" {
			passwords[f[2]] = f[4]
		}
		if strings.HasPrefix(line, "Start with") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(passwords) != 4 {
		t.Fatalf("demo users printed: %v", passwords)
	}
	base := "http://" + addr
	var up bool
	for i := 0; i < 50 && !up; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			up = true
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	pages := map[string]struct{ path, want string }{
		"alice":   {"/", "Charges"},
		"carol":   {"/accounts/physics", "By user"},
		"admin":   {"/admin/rates", "in force"},
		"finance": {"/jobs", "Receipt"},
	}
	for user, pg := range pages {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"username": {user}, "password": {passwords[user]}, "next": {pg.path}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || (!strings.Contains(body, pg.want) && !(user == "finance" && strings.Contains(body, "/jobs/"))) {
			t.Errorf("%s on %s: %d\n%.600s", user, pg.path, resp.StatusCode, body)
		}
	}
	var closed, charges int
	pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'closed') FROM billing_periods`).Scan(&closed)
	pool.QueryRow(context.Background(), `SELECT count(*) FROM job_charges`).Scan(&charges)
	if closed < 1 || charges < 1000 {
		t.Errorf("closed periods %d, charges %d", closed, charges)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit code %d after Ctrl-C", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop")
	}
}
