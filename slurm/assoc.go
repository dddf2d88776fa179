package slurm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
)

// Association says a user may charge an account on a cluster.
type Association struct {
	Cluster string
	Account string
	User    string
	Default bool
}

// Coordinator says a user coordinates an account.
type Coordinator struct {
	Account string
	User    string
}

// flexBool reads 0/1 (v0.0.36-39) or true/false (v0.0.40+).
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	*f = flexBool(s == "true" || s == "1")
	return nil
}

// Associations reads users' associations and accounts' coordinators from
// slurmrestd.
func (c *Client) Associations(ctx context.Context, creds CredentialSource, version string) ([]Association, []Coordinator, error) {
	var assoc struct {
		Errors       []APIError `json:"errors"`
		Associations []struct {
			Cluster   string     `json:"cluster"`
			Account   string     `json:"account"`
			User      flexString `json:"user"`
			IsDefault flexBool   `json:"is_default"`
		} `json:"associations"`
	}
	if err := c.getJSON(ctx, creds, "/slurmdb/"+version+"/associations", nil, &assoc); err != nil {
		return nil, nil, err
	}
	var accounts struct {
		Errors   []APIError `json:"errors"`
		Accounts []struct {
			Name         string `json:"name"`
			Coordinators []struct {
				Name string `json:"name"`
			} `json:"coordinators"`
		} `json:"accounts"`
	}
	if err := c.getJSON(ctx, creds, "/slurmdb/"+version+"/accounts", AccountsQuery(version), &accounts); err != nil {
		return nil, nil, err
	}
	var as []Association
	for _, a := range assoc.Associations {
		if a.User == "" {
			continue // the account's own association
		}
		as = append(as, Association{Cluster: a.Cluster, Account: a.Account, User: string(a.User), Default: bool(a.IsDefault)})
	}
	var cs []Coordinator
	for _, a := range accounts.Accounts {
		for _, co := range a.Coordinators {
			cs = append(cs, Coordinator{Account: a.Name, User: co.Name})
		}
	}
	return as, cs, nil
}

// AccountsQuery asks /slurmdb/vX/accounts for each account's coordinators:
// up to v0.0.39 they come anyway; v0.0.40 wants with_coords, v0.0.41 and
// later WithCoordinators (24.x leaves them out otherwise, and every
// coordinator would silently lose their role).
func AccountsQuery(version string) url.Values {
	q := url.Values{}
	switch m := minor(version); {
	case m >= 41:
		q.Set("WithCoordinators", "true")
	case m == 40:
		q.Set("with_coords", "true")
	}
	return q
}

// getJSON fetches a small answer whole and classifies its errors.
func (c *Client) getJSON(ctx context.Context, creds CredentialSource, path string, q url.Values, v any) error {
	cred, err := creds.Credential(ctx)
	if err != nil {
		return err
	}
	resp, err := c.get(ctx, cred, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 64<<20)); err != nil {
		return fmt.Errorf("slurmrestd %s: %w", path, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return classifyOrError(resp.StatusCode, buf.Bytes())
	}
	var errs struct {
		Errors []APIError `json:"errors"`
	}
	if err := jsonv2.Unmarshal(buf.Bytes(), &errs); err != nil {
		return fmt.Errorf("slurmrestd %s: %w", path, err)
	}
	if err := classify(resp.StatusCode, errs.Errors, ""); err != nil {
		return err
	}
	if err := jsonv2.Unmarshal(buf.Bytes(), v); err != nil {
		return fmt.Errorf("slurmrestd %s: %w", path, err)
	}
	return nil
}

// SacctmgrAssociations reads the same through sacctmgr, for sites without
// slurmrestd.
func SacctmgrAssociations(ctx context.Context, path, cluster string) ([]Association, []Coordinator, error) {
	if path == "" {
		path = "sacctmgr"
	}
	run := func(args ...string) ([][]string, error) {
		cmd := exec.CommandContext(ctx, path, append([]string{"-P", "-n"}, args...)...)
		cmd.Env = commandEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("sacctmgr %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		var rows [][]string
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				rows = append(rows, strings.Split(line, "|"))
			}
		}
		return rows, sc.Err()
	}
	args := []string{"show", "assoc", "format=cluster,account,user"}
	if cluster != "" {
		args = append(args, "cluster="+cluster)
	}
	rows, err := run(args...)
	if err != nil {
		return nil, nil, err
	}
	defaults := map[string]string{}
	users, err := run("show", "user", "format=user,defaultaccount")
	if err != nil {
		return nil, nil, err
	}
	for _, u := range users {
		if len(u) == 2 {
			defaults[u[0]] = u[1]
		}
	}
	var as []Association
	for _, r := range rows {
		if len(r) != 3 || r[2] == "" {
			continue
		}
		as = append(as, Association{Cluster: r[0], Account: r[1], User: r[2], Default: defaults[r[2]] == r[1]})
	}
	accts, err := run("show", "account", "withcoord", "format=account,coordinators")
	if err != nil {
		return nil, nil, err
	}
	var cs []Coordinator
	for _, r := range accts {
		if len(r) != 2 || r[1] == "" {
			continue
		}
		for _, u := range strings.Split(r[1], ",") {
			cs = append(cs, Coordinator{Account: r[0], User: strings.TrimSpace(u)})
		}
	}
	return as, cs, nil
}
