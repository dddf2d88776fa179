package web

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// The OpenAPI 3 document of /api/v1 is made from the route table and the
// Go types the handlers answer with, so it says what the code does: a
// field added to an answer is in the document at once, and a test checks
// real answers against it (TestAPIOpenAPIDocument).

type jsonObject = map[string]any

func (s *Server) openAPIHandler(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, openAPIDocument(s.apiRoutes(), s.cfg.Version))
}

var pathParamPattern = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIDocument describes routes.
func openAPIDocument(routes []apiRoute, version string) jsonObject {
	schemas := jsonObject{}
	sb := schemaBuilder{schemas: schemas}
	errorRef := sb.schema(reflect.TypeOf(apiErrorBody{}))
	errorResponse := func(desc string) jsonObject {
		return jsonObject{"description": desc, "content": jsonObject{"application/json": jsonObject{"schema": errorRef}}}
	}
	paths := jsonObject{}
	for _, rt := range routes {
		op := jsonObject{
			"operationId": operationID(rt.method, rt.path),
			"summary":     rt.summary,
			"responses": jsonObject{
				"200": jsonObject{"description": "OK", "content": jsonObject{"application/json": jsonObject{"schema": sb.schema(reflect.TypeOf(rt.resp))}}},
				"401": errorResponse("no token, or one that is unknown, revoked or expired (codes unauthenticated, invalid_token, token_revoked, token_expired)"),
				"404": errorResponse("not there, or not yours (code not_found)"),
				"422": errorResponse("a parameter Tally will not read (code invalid_input)"),
				"429": errorResponse("the token's requests per minute are spent (code rate_limited; see Retry-After)"),
				"503": errorResponse("the database is busy or unreachable (code unavailable; see Retry-After)"),
			},
		}
		if rt.roles != nil {
			op["description"] = "Roles: " + strings.Join(rt.roles, ", ") + "."
			op["responses"].(jsonObject)["403"] = errorResponse("your roles do not give access (code forbidden)")
		}
		params := []any{}
		declared := map[string]bool{}
		for _, p := range rt.params {
			declared[p.name] = true
			schema := jsonObject{"type": "string"}
			if len(p.enum) > 0 {
				schema["enum"] = p.enum
			}
			params = append(params, jsonObject{"name": p.name, "in": p.in, "description": p.help, "required": p.in == "path", "schema": schema})
		}
		for _, m := range pathParamPattern.FindAllStringSubmatch(rt.path, -1) {
			if !declared[m[1]] {
				params = append(params, jsonObject{"name": m[1], "in": "path", "required": true, "schema": jsonObject{"type": "string"}})
			}
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != nil {
			body := sb.schema(reflect.TypeOf(rt.body))
			op["requestBody"] = jsonObject{"required": true, "content": jsonObject{
				"application/json":                  jsonObject{"schema": body},
				"application/x-www-form-urlencoded": jsonObject{"schema": body},
			}}
			op["responses"].(jsonObject)["400"] = errorResponse("a body that is not JSON, or not this object (code bad_request)")
		}
		item, _ := paths[rt.path].(jsonObject)
		if item == nil {
			item = jsonObject{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	paths["/openapi.json"] = jsonObject{"get": jsonObject{
		"operationId": "getOpenAPI",
		"summary":     "This document",
		"security":    []any{},
		"responses":   jsonObject{"200": jsonObject{"description": "OpenAPI 3.0 document", "content": jsonObject{"application/json": jsonObject{"schema": jsonObject{"type": "object"}}}}},
	}}
	return jsonObject{
		"openapi": "3.0.3",
		"info": jsonObject{
			"title":   "Tally API",
			"version": "1 (Tally " + version + ")",
			"description": "Read-only access to what Tally's pages show, for finance systems, scripts and login nodes. " +
				"Authenticate with a personal API token (Your account → API tokens) as \"Authorization: Bearer tly_…\"; cookies are ignored. " +
				"Amounts are decimal strings with their currency, never floats. Errors are {\"error\":{\"code\",\"message\"}}. See docs/api.md.",
		},
		"servers":    []any{jsonObject{"url": apiPrefix}},
		"security":   []any{jsonObject{"bearerAuth": []any{}}},
		"paths":      paths,
		"components": jsonObject{"schemas": schemas, "securitySchemes": jsonObject{"bearerAuth": jsonObject{"type": "http", "scheme": "bearer"}}},
	}
}

// operationID is "get_jobs_id" for GET /jobs/{id}.
func operationID(method, path string) string {
	id := strings.ToLower(method)
	for _, part := range strings.Split(path, "/") {
		part = strings.Trim(part, "{}")
		if part != "" {
			id += "_" + part
		}
	}
	return id
}

// schemaBuilder turns the handlers' Go types into JSON schemas, named
// types once each under components/schemas.
type schemaBuilder struct{ schemas jsonObject }

var timeType = reflect.TypeOf(time.Time{})

func (b schemaBuilder) schema(t reflect.Type) jsonObject {
	switch {
	case t == timeType:
		return jsonObject{"type": "string", "format": "date-time"}
	case t == reflect.TypeOf(flexText("")):
		return jsonObject{"oneOf": []any{jsonObject{"type": "string"}, jsonObject{"type": "number"}}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := b.schema(t.Elem())
		if ref, ok := inner["$ref"]; ok {
			return jsonObject{"allOf": []any{jsonObject{"$ref": ref}}, "nullable": true}
		}
		inner["nullable"] = true
		return inner
	case reflect.String:
		return jsonObject{"type": "string"}
	case reflect.Bool:
		return jsonObject{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return jsonObject{"type": "integer", "format": "int64"}
	case reflect.Slice:
		return jsonObject{"type": "array", "items": b.schema(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, done := b.schemas[name]; !done {
			b.schemas[name] = jsonObject{} // a placeholder while its fields refer back
			props, required := jsonObject{}, []any{}
			b.fields(t, props, &required)
			obj := jsonObject{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				obj["required"] = required
			}
			b.schemas[name] = obj
		}
		return jsonObject{"$ref": "#/components/schemas/" + name}
	}
	panic("openapi: no schema for " + t.String())
}

// fields adds t's JSON fields as encoding/json writes them (embedded
// structs flattened); those without omitempty are always there.
func (b schemaBuilder) fields(t reflect.Type, props jsonObject, required *[]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			b.fields(f.Type, props, required)
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		s := b.schema(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = jsonObject{"allOf": []any{s}, "description": doc}
			} else {
				s["description"] = doc
			}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}

// schemaName is a Go type's name without the api prefix: apiJobList is JobList.
func schemaName(t reflect.Type) string {
	n := strings.TrimPrefix(t.Name(), "api")
	if n == "" {
		panic("openapi: an anonymous struct in an answer")
	}
	return n
}
