package web

import (
	"net/http"
	"strings"

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
	people, err := s.events.People(ctx, pattern, usersPageLimit+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	out := make([]templates.UserRow, 0, len(people))
	for _, p := range people {
		u := templates.UserRow{Name: p.Name, Accounts: p.Accounts}
		if p.LastSignIn != nil {
			u.LastSignIn = templates.Timestamp(*p.LastSignIn)
		}
		out = append(out, u)
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
