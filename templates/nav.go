package templates

import "strings"

// The header shows the admin pages (those under adminPrefix) in one
// "Admin" menu rather than beside the others, so that an admin's
// navigation fits one line on a wide screen; a new admin page joins the
// menu without further ado.
const adminPrefix = "/admin/"

// mainNav is the navigation without the admin pages.
func (p Page) mainNav() []NavItem {
	var out []NavItem
	for _, n := range p.Nav {
		if !strings.HasPrefix(n.Href, adminPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// adminNav is the admin pages of the navigation.
func (p Page) adminNav() []NavItem {
	var out []NavItem
	for _, n := range p.Nav {
		if strings.HasPrefix(n.Href, adminPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// inAdmin says whether the page shown is one of the admin menu's.
func (p Page) inAdmin() bool {
	for _, n := range p.adminNav() {
		if p.current(n.Href) != "" {
			return true
		}
	}
	return false
}
