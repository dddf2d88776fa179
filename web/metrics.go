package web

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// durationBuckets are the histogram's upper bounds in seconds.
func durationBuckets() [11]float64 {
	return [11]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

type requestKey struct {
	route, method string
	code          int
}

type durationKey struct{ route, method string }

type histogram struct {
	counts [11]uint64
	count  uint64
	sum    float64
}

// Metrics counts requests for the Prometheus text exposition at /metrics.
// It is written by hand: a handful of series do not justify a client library.
type Metrics struct {
	mu        sync.Mutex
	requests  map[requestKey]uint64
	durations map[durationKey]*histogram
	gauges    []GaugeFunc
}

// GaugeFunc contributes extra samples (database pool statistics, say).
type GaugeFunc func(w io.Writer)

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[requestKey]uint64{}, durations: map[durationKey]*histogram{}}
}

// AddGauges registers a function that writes extra samples.
func (m *Metrics) AddGauges(f GaugeFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges = append(m.gauges, f)
}

// Observe records one finished request.
func (m *Metrics) Observe(route, method string, code int, d time.Duration) {
	method = knownMethod(method)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[requestKey{route, method, code}]++
	k := durationKey{route, method}
	h := m.durations[k]
	if h == nil {
		h = &histogram{}
		m.durations[k] = h
	}
	s := d.Seconds()
	for i, b := range durationBuckets() {
		if s <= b {
			h.counts[i]++
		}
	}
	h.count++
	h.sum += s
}

// Write emits every series in the Prometheus text format, sorted for
// stable output.
func (m *Metrics) Write(w io.Writer) {
	m.mu.Lock()
	reqKeys := make([]requestKey, 0, len(m.requests))
	for k := range m.requests {
		reqKeys = append(reqKeys, k)
	}
	sort.Slice(reqKeys, func(i, j int) bool {
		a, b := reqKeys[i], reqKeys[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.code < b.code
	})
	fmt.Fprintln(w, "# HELP tally_http_requests_total HTTP requests by route pattern, method and status code.")
	fmt.Fprintln(w, "# TYPE tally_http_requests_total counter")
	for _, k := range reqKeys {
		fmt.Fprintf(w, "tally_http_requests_total{route=%s,method=%s,code=\"%d\"} %d\n", quote(k.route), quote(k.method), k.code, m.requests[k])
	}
	durKeys := make([]durationKey, 0, len(m.durations))
	for k := range m.durations {
		durKeys = append(durKeys, k)
	}
	sort.Slice(durKeys, func(i, j int) bool {
		if durKeys[i].route != durKeys[j].route {
			return durKeys[i].route < durKeys[j].route
		}
		return durKeys[i].method < durKeys[j].method
	})
	fmt.Fprintln(w, "# HELP tally_http_request_duration_seconds HTTP request latency by route pattern and method.")
	fmt.Fprintln(w, "# TYPE tally_http_request_duration_seconds histogram")
	for _, k := range durKeys {
		h := m.durations[k]
		labels := fmt.Sprintf("route=%s,method=%s", quote(k.route), quote(k.method))
		for i, b := range durationBuckets() {
			fmt.Fprintf(w, "tally_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, b, h.counts[i])
		}
		fmt.Fprintf(w, "tally_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, h.count)
		fmt.Fprintf(w, "tally_http_request_duration_seconds_sum{%s} %g\n", labels, h.sum)
		fmt.Fprintf(w, "tally_http_request_duration_seconds_count{%s} %d\n", labels, h.count)
	}
	gauges := append([]GaugeFunc(nil), m.gauges...)
	m.mu.Unlock()

	fmt.Fprintln(w, "# HELP tally_goroutines Goroutines in the process.")
	fmt.Fprintln(w, "# TYPE tally_goroutines gauge")
	fmt.Fprintf(w, "tally_goroutines %d\n", runtime.NumGoroutine())
	for _, g := range gauges {
		g(w)
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
