package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Every value a person can type into a filter, a path or a form is
// bounded here, once, before any handler or query sees it: a 900 KB
// search string made one export run for minutes, and NUL or invalid UTF-8
// made PostgreSQL fail the query (a 500) or, for streamed exports, an
// empty "200 OK" file.
const (
	maxFieldBytes  = 256     // any query value or form field not listed in fieldLimit
	maxFields      = 64      // parameters in one query string or form
	maxFormBytes   = 1 << 20 // a whole form body
	maxPathBytes   = 1024
	maxPageNumber  = 100_000 // pagers: far beyond any real list, well inside int arithmetic
	maxCursorBytes = 2 * maxFieldBytes
)

// fieldLimit is the longest value a field may hold, in bytes.
func fieldLimit(name string) int {
	switch name {
	case "password":
		return 1024
	case "spec": // a rate card version, YAML typed or pasted by an admin
		return 64 << 10
	case "reason", "note", "detail":
		return 1024
	case "after", "before":
		return maxCursorBytes
	}
	return maxFieldBytes
}

// multiLine says which fields may hold line breaks and tabs.
func multiLine(name string) bool { return name == "spec" }

// inputError is a request Tally refuses to read; Message is safe to show.
type inputError struct{ Message string }

func (e *inputError) Error() string { return e.Message }

// checkValue refuses a value that is too long, not UTF-8 or carries
// control characters (NUL above all).
func checkValue(kind, name, value string) error {
	label := fmt.Sprintf("%s %q", kind, printable(name))
	if limit := fieldLimit(name); len(value) > limit {
		return &inputError{fmt.Sprintf("The %s is longer than Tally accepts (%d bytes at most; it has %d).", label, limit, len(value))}
	}
	if !utf8.ValidString(value) {
		return &inputError{fmt.Sprintf("The %s is not valid UTF-8 text.", label)}
	}
	for _, c := range value {
		if c == '\n' || c == '\r' || c == '\t' {
			if multiLine(name) {
				continue
			}
		}
		if isControl(c) {
			return &inputError{fmt.Sprintf("The %s contains a control character (such as NUL), which Tally does not accept.", label)}
		}
	}
	return nil
}

// printable shortens and cleans a field name for an error message: the
// name itself is attacker-chosen.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "")
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f }

// checkValues checks every name and value of a parsed query or form.
func checkValues(kind string, vals url.Values) error {
	if len(vals) > maxFields {
		return &inputError{fmt.Sprintf("The %s has more than %d fields.", kind, maxFields)}
	}
	for name, vs := range vals {
		if len(name) > maxFieldBytes || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
			return &inputError{fmt.Sprintf("The %s has a field name Tally cannot read.", kind)}
		}
		if len(vs) > maxFields {
			return &inputError{fmt.Sprintf("The %s field %q is repeated more than %d times.", kind, printable(name), maxFields)}
		}
		for _, v := range vs {
			if err := checkValue(kind+" field", name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRequest reads and checks the path, the query and, for a form
// post, the form.
func checkRequest(w http.ResponseWriter, r *http.Request) (int, error) {
	if len(r.URL.Path) > maxPathBytes {
		return http.StatusBadRequest, &inputError{fmt.Sprintf("The address is longer than Tally accepts (%d bytes at most).", maxPathBytes)}
	}
	if !utf8.ValidString(r.URL.Path) {
		return http.StatusBadRequest, &inputError{"The address is not valid UTF-8 text."}
	}
	if strings.ContainsFunc(r.URL.Path, isControl) {
		return http.StatusBadRequest, &inputError{"The address contains a control character (such as NUL), which Tally does not accept."}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return http.StatusBadRequest, &inputError{"The address's query could not be read: check its % escapes."}
	}
	if err := checkValues("query", q); err != nil {
		return http.StatusBadRequest, err
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return http.StatusRequestEntityTooLarge, &inputError{fmt.Sprintf("The form is larger than Tally accepts (%d bytes at most).", maxFormBytes)}
			}
			return http.StatusBadRequest, &inputError{"The form could not be read."}
		}
		if err := checkValues("form", r.PostForm); err != nil {
			return http.StatusBadRequest, err
		}
	}
	return 0, nil
}

// checkedInput answers 400 (or 413) with a clear message for a request
// whose path, query or form Tally will not read, before any handler,
// query or session write happens.
func (s *Server) checkedInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, err := checkRequest(w, r); err != nil {
			s.log.Info("request refused", "id", requestID(r.Context()), "status", status, "reason", safeMessage(err))
			s.errorPage(w, r, status, "Bad request", safeMessage(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageNumber reads a pager's ?page=: absent means 1; anything but a
// whole number from 1 to maxPageNumber is refused.
func pageNumber(r *http.Request) (int, error) {
	s := r.URL.Query().Get("page")
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageNumber {
		return 0, &inputError{fmt.Sprintf("The page number must be a whole number from 1 to %d.", maxPageNumber)}
	}
	return n, nil
}

// safeMessage is an inputError's message, or a generic one.
func safeMessage(err error) string {
	var ie *inputError
	if errors.As(err, &ie) {
		return ie.Message
	}
	return "The request could not be read."
}

// badInput answers 400 with what was wrong with the request.
func (s *Server) badInput(w http.ResponseWriter, r *http.Request, err error) {
	s.errorPage(w, r, http.StatusBadRequest, "Bad request", safeMessage(err))
}
