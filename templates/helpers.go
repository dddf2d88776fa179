package templates

import (
	"net/http"
	"strconv"
)

func statusText(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orNone(s string) string {
	if s == "" {
		return "(no group configured)"
	}
	return s
}

// totalSpan is how many columns a statement's "Total" cell spans: the
// label columns, one more when the table has a cluster column.
func totalSpan(cols int, byCluster bool) string {
	if byCluster {
		cols++
	}
	return strconv.Itoa(cols)
}
