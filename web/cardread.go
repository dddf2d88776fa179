package web

import (
	"net/http"

	billingpg "github.com/tally-hpc/tally/billing/postgres"
)

// oneCardRead gives a reading request (GET or HEAD) one read of the rate
// cards, whatever asks for them while it is served (billingpg.WithCardSnapshot).
func oneCardRead(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			r = r.WithContext(billingpg.WithCardSnapshot(r.Context()))
		}
		h.ServeHTTP(w, r)
	})
}
