package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tally-hpc/tally/billing"
	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// The JSON API (/api/v1, docs/api.md): read-only, for finance systems,
// scripts and login nodes, answered from the same store calls, scopes and
// rounding policy as the pages, for a person who presents a personal API
// token instead of a session cookie.

const apiPrefix = "/api/v1"

// apiRoute is one endpoint. The mux and the OpenAPI document are both
// made from the table of these (apiRoutes), so they cannot disagree;
// adding an endpoint is a row there and a handler.
type apiRoute struct {
	method string
	path   string // under /api/v1, with {name} path parameters
	// roles may call it (any of them); nil: anyone holding a token. They
	// are the roles of the page showing the same data, which a test holds
	// them to (TestAPIMatrixAnswersAsThePages).
	roles   []string
	summary string
	params  []apiParam // query (and path) parameters
	body    any        // the request body's Go type, for POST; nil: none
	resp    any        // the answer's Go type (a zero value), for the document
	handle  func(r *http.Request, v *Viewer) (any, error)
}

// apiParam is one query or path parameter.
type apiParam struct {
	name, in, help string
	enum           []string
}

func queryParam(name, help string, enum ...string) apiParam {
	return apiParam{name: name, in: "query", help: help, enum: enum}
}

func pathParam(name, help string) apiParam { return apiParam{name: name, in: "path", help: help} }

// apiErr is an answer other than 200, with a stable code for programs and
// a message for people.
type apiErr struct {
	status  int
	code    string
	message string
}

func (e *apiErr) Error() string { return e.code + ": " + e.message }

// rateLimited is a token over its requests per minute.
type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string { return "rate limited" }

// apiErrorBody is every error the API answers.
type apiErrorBody struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// isAPIPath says whether a request is the API's, answered in JSON.
func isAPIPath(path string) bool { return path == "/api" || strings.HasPrefix(path, "/api/") }

// codeForStatus is the error code of answers made outside the API's
// handlers (a panic, a busy database, a path that is not there).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnprocessableEntity:
		return "invalid_input"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal"
}

// writeJSON answers v as JSON. API answers are one person's data: no
// shared cache may keep them.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Error("writing JSON failed", "id", requestID(r.Context()), "err", err)
	}
}

// apiError answers an error in the API's one shape.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if status == http.StatusUnauthorized {
		challenge := `Bearer realm="tally"`
		if code != "unauthenticated" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	s.writeJSON(w, r, status, apiErrorBody{apiErrorDetail{Code: code, Message: message}})
}

// apiFail answers a handler's error: the API's own errors as they are,
// input and domain errors by kind (as pages map them), the rest as pages
// do (busy, unreachable, internal), in JSON.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiErr
	var rl *rateLimited
	var ie *inputError
	var k kinded
	switch {
	case errors.As(err, &ae):
		s.apiError(w, r, ae.status, ae.code, ae.message)
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.wait.Seconds()+0.001))))
		s.apiError(w, r, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("This token made more than %d requests in a minute; wait as Retry-After says.", s.api.limiter.perMinute))
	case errors.As(err, &ie):
		s.apiError(w, r, http.StatusUnprocessableEntity, "invalid_input", ie.Message)
	case errors.As(err, &k):
		status, ok := statusForKind(k.ErrorKind())
		if !ok {
			s.serverError(w, r, err)
			return
		}
		msg := http.StatusText(status)
		var sm safeMessager
		if errors.As(err, &sm) {
			msg = sm.SafeMessage()
		}
		code := k.ErrorKind()
		if code == "invalid" {
			code = "invalid_input"
		}
		s.apiError(w, r, status, code, msg)
	default:
		s.serverError(w, r, err)
	}
}

// apiNotFound is the answer for what is not there or not the viewer's:
// the same words, so that an id tells nothing of whether it exists.
func apiNotFound() error {
	return &apiErr{http.StatusNotFound, "not_found", "There is nothing at this address, or you may not see it."}
}

// apiHandler authenticates the token, checks the route's roles with the
// pages' check, then runs the handler and answers its value as JSON.
func (s *Server) apiHandler(rt apiRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, t, err := s.apiViewer(r)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		r = withToken(r, t)
		if rt.roles != nil && !holdsAny(v, rt.roles) {
			s.apiError(w, r, http.StatusForbidden, "forbidden", "Your roles do not give access to this; the page with the same data would refuse you too.")
			return
		}
		out, err := rt.handle(r, v)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, out)
	}
}

// registerAPI puts the token pages and every API route on the mux.
func (s *Server) registerAPI() {
	s.registerTokenPages()
	for _, rt := range s.apiRoutes() {
		s.handle(rt.method+" "+apiPrefix+rt.path, s.apiHandler(rt))
	}
	s.handle("GET "+apiPrefix+"/openapi.json", s.openAPIHandler)
	// Whatever else is under /api: JSON, never a page.
	s.handle("/api/", s.apiNowhere)
}

// apiNowhere answers a path the API does not have (404) or a method a
// path does not take (405, with Allow).
func (s *Server) apiNowhere(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.apiError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "This address takes "+strings.Join(allow, " or ")+".")
		return
	}
	s.apiError(w, r, http.StatusNotFound, "not_found", "The API has nothing at this address; see /api/v1/openapi.json.")
}

// apiEntry is the API's part of the middleware, in place of the pages'
// sessions, cross-origin form check and HTML errors: cookies are dropped
// unread, a browser on an allowed origin gets CORS headers, and the
// request's path, query and form are checked as the pages' are, with the
// answer in JSON.
func (s *Server) apiEntry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Cookie")
		if s.cors(w, r) {
			return
		}
		if status, err := checkRequest(w, r); err != nil {
			s.log.Info("request refused", "id", requestID(r.Context()), "status", status, "reason", safeMessage(err))
			if status == http.StatusBadRequest {
				status = http.StatusUnprocessableEntity
			}
			s.apiError(w, r, status, codeForStatus(status), safeMessage(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cors lets pages on the configured origins call the API from a browser
// with a token (never with cookies: no Allow-Credentials). It answers a
// preflight itself and says so.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (answered bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(s.cfg.API.CORSOrigins, origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// splitAPI sends /api requests down the API's middleware and the rest
// down the pages'.
func splitAPI(api, pages http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		pages.ServeHTTP(w, r)
	})
}

// apiMoney is an amount as Tally's pages show it: amount is the figure
// shown (rounded to the currency's minor unit by the one rounding policy;
// a job's charge lines and unit prices, which receipts show exact, to the
// micro-unit), exact the same amount to six decimals (as the pages'
// sortable tables carry it). Never a float.
type apiMoney struct {
	Amount   string `json:"amount" doc:"the figure as the pages show it: rounded to the minor unit (charge lines: exact)"`
	Currency string `json:"currency" doc:"ISO 4217 code, or the rate card's currency"`
	Exact    string `json:"exact" doc:"the same amount to the micro-unit (six decimals)"`
}

// amount is a figure as pages show amounts (figures.money), for the API.
func (f figures) amount(m billing.Micros, currency string) apiMoney {
	return apiMoney{Amount: f.pol.Format(m, currency), Currency: currency, Exact: m.String()}
}

// exactAmount is an exact figure, as receipts show charge lines.
func exactAmount(m billing.Micros, currency string) apiMoney {
	return apiMoney{Amount: m.String(), Currency: currency, Exact: m.String()}
}

// apiTime is a time as RFC 3339 in UTC, or null.
func apiTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// notVisible says whether err means "not there or not yours".
func notVisible(err error) bool {
	return errors.Is(err, billingpg.ErrNotVisible) || errors.Is(err, errNotYours)
}
