// Package templates holds Tally's templ components. Components take plain
// values prepared by web handlers; they never query anything themselves.
package templates

import "github.com/tally-hpc/tally/billing"

// Page is what every full page needs from the layout.
type Page struct {
	Title   string
	Path    string // the request path, to mark the current navigation item
	Viewer  *Viewer
	Nav     []NavItem
	Flashes []Flash
	Version string
	Asset   func(name string) string
	// Policy rounds every amount the page shows.
	Policy billing.Policy
}

// Viewer is the signed-in person as the header shows them.
type Viewer struct {
	Name  string
	Roles []string
}

// NavItem is one link of the main navigation.
type NavItem struct {
	Label string
	Href  string
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // info, success or error
	Message string
}

func (p Page) asset(name string) string {
	if p.Asset == nil {
		return "/static/" + name
	}
	return p.Asset(name)
}

func (p Page) current(href string) string {
	if href == p.Path || (href != "/" && len(p.Path) > len(href) && p.Path[:len(href)] == href && p.Path[len(href)] == '/') {
		return "page"
	}
	return ""
}

func (p Page) fullTitle() string {
	if p.Title == "" {
		return "Tally"
	}
	return p.Title + " · Tally"
}

// IsAdmin says whether the viewer is an admin (who may change budgets).
func (p Page) IsAdmin() bool {
	if p.Viewer == nil {
		return false
	}
	for _, r := range p.Viewer.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}
