package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The OpenAPI document served at /api/v1/openapi.json is a valid OpenAPI
// 3 document (kin-openapi's loader and validator), names exactly the API
// routes the server registers, and every answer the API gives in the
// authorisation matrix, errors included, fits the schema it declares.
func TestAPIOpenAPIDocument(t *testing.T) {
	e := newAuthServer(t, "", nil)
	rows, period := seedWithPeriod(t, e)
	resp, body := apiGet(t, e, "/api/v1/openapi.json", "")
	if resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(body))
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3: %v", err)
	}

	// Its paths and methods are the routes the mux has under /api/v1.
	var registered, documented []string
	for _, p := range e.srv.patterns {
		method, path, ok := strings.Cut(p, " ")
		if ok && strings.HasPrefix(path, apiPrefix+"/") {
			registered = append(registered, method+" "+strings.TrimPrefix(path, apiPrefix))
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(registered)
	sort.Strings(documented)
	if !slices.Equal(registered, documented) {
		t.Fatalf("the document and the mux disagree:\n registered %v\n documented %v", registered, documented)
	}

	// Every answer fits the document: successes and refusals, every role.
	users := []string{"tally-t-alice", "tally-t-coord", "tally-t-fin", "tally-t-admin"}
	tokens := map[string]string{"": ""}
	for _, u := range users {
		b := newBrowser(t, e)
		b.login(u, pamUsers[u], "/")
		tokens[u], _ = makeToken(t, b, "openapi")
	}
	extra := []apiMatrixRow{
		{method: "GET", path: "/api/v1/jobs?limit=1&sort=cost"},
		{method: "GET", path: "/api/v1/jobs?from=never"},
		{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", rows[101])},
		{method: "GET", path: "/api/v1/periods/no-such-period"},
		{method: "POST", path: "/api/v1/estimate", body: `{"partition":"cpu","cpus":"2","gpus":"a100:1","time":"2:00:00"}`},
		{method: "POST", path: "/api/v1/estimate", body: `{"partition":"nowhere","time":"2:00:00"}`},
		{method: "POST", path: "/api/v1/estimate", body: `{"time":`},
	}
	checked := 0
	for _, user := range append([]string{""}, users...) {
		for _, r := range append(apiMatrix(rows[103], period), extra...) {
			if r.pattern == "/api/" || strings.HasSuffix(r.path, "openapi.json") {
				continue
			}
			resp, body := apiCall(t, e, r.method, r.path, tokens[user], r.body, nil)
			if err := fitsDocument(ctx, doc, r.method, r.path, r.body, resp, body); err != nil {
				t.Errorf("%s %s as %q (%d): %v\n%s", r.method, r.path, user, resp.StatusCode, err, body)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("only %d answers checked", checked)
	}
}

// fitsDocument checks one answer against the operation the document has
// for it, without a router: the path is matched against the document's
// own path templates.
func fitsDocument(ctx context.Context, doc *openapi3.T, method, rawPath, reqBody string, resp *http.Response, body string) error {
	u, err := url.Parse(rawPath)
	if err != nil {
		return err
	}
	path := strings.TrimPrefix(u.Path, apiPrefix)
	var route *routers.Route
	params := map[string]string{}
	for tmpl, item := range doc.Paths.Map() {
		if vals, ok := matchTemplate(tmpl, path); ok && item.GetOperation(method) != nil {
			if route != nil && strings.Contains(tmpl, "{") {
				continue // a fixed path (/jobs/totals) wins over a template (/jobs/{id})
			}
			route = &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: method, Operation: item.GetOperation(method)}
			params = vals
		}
	}
	if route == nil {
		return fmt.Errorf("no operation in the document for %s %s", method, path)
	}
	req, _ := http.NewRequest(method, "http://tally"+rawPath, strings.NewReader(reqBody))
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if _, ok := route.Operation.Responses.Map()[fmt.Sprint(resp.StatusCode)]; !ok {
		return fmt.Errorf("status %d is not among the operation's responses", resp.StatusCode)
	}
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader([]byte(body))),
	})
}

// matchTemplate matches /jobs/{id} against /jobs/42.
func matchTemplate(tmpl, path string) (map[string]string, bool) {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	vals := map[string]string{}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") {
			vals[strings.Trim(ts[i], "{}")] = ps[i]
		} else if ts[i] != ps[i] {
			return nil, false
		}
	}
	return vals, true
}
