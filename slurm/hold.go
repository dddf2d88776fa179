package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// AccountLimits changes an account's association limits with sacctmgr,
// which Tally uses to hold an account whose budget ran out. The user
// sacctmgr runs as (Tally's) must be a Slurm administrator, and slurm.conf
// must enforce limits (AccountingStorageEnforce=associations,limits) for a
// hold to refuse anything.
type AccountLimits struct {
	Path string // the sacctmgr binary; "" looks it up in PATH
}

// HoldLimit is what a hold sets: no new job may be submitted under the
// account. Running and queued jobs go on; Slurm refuses the next sbatch.
const HoldLimit = "GrpSubmitJobs=0"

// names Slurm accepts for clusters and accounts; anything else is refused
// before it reaches sacctmgr's where-clause.
var (
	slurmName  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	limitValue = regexp.MustCompile(`^(-1|[0-9]{1,10})$`)
)

// SubmitLimit reads the account's own GrpSubmitJobs on cluster ("" when
// it has none).
func (l AccountLimits) SubmitLimit(ctx context.Context, cluster, account string) (string, error) {
	if err := checkNames(cluster, account); err != nil {
		return "", err
	}
	out, err := l.run(ctx, "-P", "-n", "show", "assoc", "where", "cluster="+cluster, "account="+account,
		"format=cluster,account,user,grpsubmit")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "|")
		// The account's own association is the one without a user.
		if len(f) == 4 && f[0] == cluster && f[1] == account && f[2] == "" {
			return f[3], nil
		}
	}
	return "", fmt.Errorf("sacctmgr: account %s has no association on cluster %s", account, cluster)
}

// SetSubmitLimit sets the account's GrpSubmitJobs on cluster: "0" holds
// it, "" (or "-1") removes the limit, anything else restores a number.
func (l AccountLimits) SetSubmitLimit(ctx context.Context, cluster, account, value string) error {
	if err := checkNames(cluster, account); err != nil {
		return err
	}
	if value == "" {
		value = "-1"
	}
	if !limitValue.MatchString(value) {
		return fmt.Errorf("GrpSubmitJobs %q: want a number or -1", value)
	}
	out, err := l.run(ctx, "-i", "modify", "account", "where", "name="+account, "cluster="+cluster, "set", "GrpSubmitJobs="+value)
	if err != nil {
		return err
	}
	// sacctmgr exits 0 when nothing matched; a hold that changed nothing
	// must not be recorded as placed. "Nothing modified" also comes when
	// the value is already set, which is not a failure: read it back.
	if bytes.Contains(out, []byte("Nothing modified")) {
		got, err := l.SubmitLimit(ctx, cluster, account)
		if err != nil {
			return err
		}
		if got != value && !(value == "-1" && got == "") {
			return fmt.Errorf("sacctmgr modified nothing: account %s on %s has GrpSubmitJobs=%q", account, cluster, got)
		}
	}
	return nil
}

func checkNames(cluster, account string) error {
	if !slurmName.MatchString(cluster) {
		return fmt.Errorf("cluster %q: give the cluster's name (TALLY_CLUSTER)", cluster)
	}
	if !slurmName.MatchString(account) {
		return fmt.Errorf("account %q is not a Slurm account name", account)
	}
	return nil
}

func (l AccountLimits) run(ctx context.Context, args ...string) ([]byte, error) {
	path := l.Path
	if path == "" {
		path = "sacctmgr"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = commandEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, left: 8 << 10}
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("sacctmgr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
