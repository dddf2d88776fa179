package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/tally-hpc/tally/templates"
)

const usersPageLimit = 500

// users lists the people Tally knows (Slurm associations and anyone who
// has signed in) with the roles they would get now, and where each role
// comes from: roles are managed in Slurm and in Unix groups, not here.
func (s *Server) users(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
	rows, err := s.pool.Query(ctx, `WITH people AS (
			SELECT username FROM slurm_associations
			UNION SELECT username FROM auth_events WHERE action = 'login')
		SELECT p.username,
			coalesce((SELECT string_agg(DISTINCT a.account, ' ' ORDER BY a.account) FROM slurm_associations a WHERE a.username = p.username), ''),
			(SELECT max(at) FROM auth_events e WHERE e.username = p.username AND e.action = 'login')
		FROM people p WHERE p.username ILIKE $1 ORDER BY p.username LIMIT $2`, pattern, usersPageLimit+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var out []templates.UserRow
	for rows.Next() {
		var u templates.UserRow
		var last *time.Time
		if err := rows.Scan(&u.Name, &u.Accounts, &last); err != nil {
			rows.Close()
			s.serverError(w, r, err)
			return
		}
		if last != nil {
			u.LastSignIn = last.UTC().Format("2006-01-02 15:04")
		}
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.serverError(w, r, err)
		return
	}
	more := len(out) > usersPageLimit
	if more {
		out = out[:usersPageLimit]
	}
	for i := range out {
		roles, coordinates, err := s.resolveRoles(ctx, out[i].Name)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		out[i].Roles, out[i].Coordinates = roles, strings.Join(coordinates, " ")
	}
	s.render(w, r, http.StatusOK, templates.Users(s.page(r, "Users and roles"), templates.UsersView{
		Rows: out, Query: q, More: more, AdminGroups: strings.Join(s.auth.AdminGroups, ", "), FinanceGroups: strings.Join(s.auth.FinanceGroups, ", ")}))
}
