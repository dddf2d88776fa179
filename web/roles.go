package web

import (
	"context"
	"os/user"
	"sort"

	"github.com/tally-hpc/tally/slurm/jobstore"
)

// resolveRoles works out what a person may do: everyone is a researcher;
// coordinators come from Slurm's associations (ingested); admin and
// finance from Unix groups looked up through NSS, or from listed users.
func (s *Server) resolveRoles(ctx context.Context, slurmUser string) (roles, accounts []string, err error) {
	roles = []string{RoleResearcher}

	accounts, err = jobstore.CoordinatedAccounts(ctx, s.pool, s.coordinatorCluster(), slurmUser)
	if err != nil {
		return nil, nil, err
	}
	if len(accounts) > 0 {
		roles = append(roles, RoleCoordinator)
	}

	groups := unixGroups(slurmUser)
	if contains(s.auth.AdminUsers, slurmUser) || intersects(groups, s.auth.AdminGroups) {
		roles = append(roles, RoleAdmin)
	}
	if contains(s.auth.FinanceUsers, slurmUser) || intersects(groups, s.auth.FinanceGroups) {
		roles = append(roles, RoleFinance)
	}
	return roles, accounts, nil
}

// unixGroups lists the user's groups by name through NSS (files, sss,
// ldap: whatever nsswitch.conf says). Unknown users have none.
func unixGroups(name string) []string {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			out = append(out, g.Name)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if contains(b, x) {
			return true
		}
	}
	return false
}
