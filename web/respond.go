package web

import (
	"context"
	"errors"
	"github.com/tally-hpc/tally/billing"
	"net/http"

	"github.com/a-h/templ"

	"github.com/tally-hpc/tally/templates"
)

// Domain packages describe their errors with these methods; the web layer
// maps kinds to HTTP statuses here and nowhere else.
type kinded interface {
	ErrorKind() string
}

type safeMessager interface {
	SafeMessage() string
}

func statusForKind(kind string) (int, bool) {
	switch kind {
	case "invalid":
		return http.StatusUnprocessableEntity, true
	case "not_found":
		return http.StatusNotFound, true
	case "conflict":
		return http.StatusConflict, true
	case "forbidden":
		return http.StatusForbidden, true
	case "unauthorized":
		return http.StatusUnauthorized, true
	case "unavailable":
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// page fills the layout fields every page shares.
func (s *Server) page(r *http.Request, title string) templates.Page {
	return s.pageWith(r, title, s.policy(r.Context()))
}

// pageWith is page for a handler that already read the rounding policy
// (to build its figures). Build it last: it takes the session's flashes.
func (s *Server) pageWith(r *http.Request, title string, pol billing.Policy) templates.Page {
	p := s.plainPage(r, title)
	p.Policy = pol
	return p
}

// plainPage is a page that shows no amounts (error pages: they must not
// need the database).
func (s *Server) plainPage(r *http.Request, title string) templates.Page {
	p := templates.Page{
		Title:   title,
		Path:    r.URL.Path,
		Version: s.cfg.Version,
		Asset:   s.assets.URL,
		Policy:  billing.NewPolicy(s.rounding, nil),
	}
	s.fillViewer(r, &p)
	if notice := s.replicaNotice(r); notice != "" {
		p.Flashes = append(p.Flashes, templates.Flash{Kind: "info", Message: notice})
	}
	return p
}

// policy is the rounding policy of every amount Tally shows: the
// configured rule with the minor digits of the stored rate cards.
func (s *Server) policy(ctx context.Context) billing.Policy {
	pol, err := s.billing.Policy(ctx, s.rounding)
	if err != nil {
		s.log.Warn("rounding policy: rate cards unreadable; ISO minor digits used", "err", err)
		return billing.NewPolicy(s.rounding, nil)
	}
	return pol
}

// render writes a component with a status; rendering errors are logged once.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Rendering does no I/O but writing: it must not stop because the
	// request's deadline passed (the "busy" page is drawn after it).
	if err := c.Render(context.WithoutCancel(r.Context()), w); err != nil {
		s.log.Error("render failed", "id", requestID(r.Context()), "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	if isAPIPath(r.URL.Path) { // programs get the API's JSON error, never a page
		s.apiError(w, r, status, codeForStatus(status), message)
		return
	}
	s.render(w, r, status, templates.ErrorPage(s.plainPage(r, heading), status, heading, message))
}

// fail answers with the status and message an error's kind calls for.
// Unknown errors are internal: logged with detail, shown without.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var k kinded
	if errors.As(err, &k) {
		if status, ok := statusForKind(k.ErrorKind()); ok {
			msg := http.StatusText(status)
			var sm safeMessager
			if errors.As(err, &sm) {
				msg = sm.SafeMessage()
			}
			s.errorPage(w, r, status, http.StatusText(status), msg)
			return
		}
	}
	s.serverError(w, r, err)
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	id := requestID(r.Context())
	switch {
	case busy(err):
		s.unavailable(w, r, err, "database busy", "Tally is busy",
			"The database did not answer in time. Nothing was changed; try again in a minute.")
	case unreachable(err):
		s.unavailable(w, r, err, "database unreachable", "Tally cannot reach its database",
			"The database is not answering just now (it may be restarting). Nothing was changed; try again in a minute.")
	default:
		s.log.Error("internal error", "id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
			"Tally could not finish this request. It has been logged with reference "+id+".")
	}
}

// unavailable answers a passing database condition: 503, try again later.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error, logMsg, heading, message string) {
	s.log.Warn(logMsg, "id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "30")
	s.errorPage(w, r, http.StatusServiceUnavailable, heading, message)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "Not found", "There is nothing at this address, or you may not see it.")
}
