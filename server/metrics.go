package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the histogram's upper bounds in seconds: from a
// small bicubic answer (milliseconds) to a diffusion upscale (minutes).
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// metrics keeps the counters /metrics exposes. The exposition format is
// simple enough to write directly, which spares a dependency.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // route, status code → count
	latency  map[string]*histogram
	inFlight int64
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, latency: map[string]*histogram{}}
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{route, fmt.Sprint(code)}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[route] = h
	}
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, sec) // first bound ≥ sec, le semantics
	h.counts[i]++
	h.sum += sec
	h.n++
}

// statusRecorder captures the status code for the metrics and the log.
// Unwrap lets http.ResponseController reach the real writer's Flush and
// deadlines.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts, times and logs every request, and tracks handlers
// for shutdown.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		s.metrics.mu.Lock()
		s.metrics.inFlight++
		s.metrics.mu.Unlock()
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			d := time.Since(start)
			s.metrics.mu.Lock()
			s.metrics.inFlight--
			s.metrics.mu.Unlock()
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			// The mux records the matched pattern on the request; using it
			// rather than the path keeps label values few (job ids vary).
			route := r.Pattern
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path
			}
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observe(route, rec.code, d)
			// Scrapes, probes and page assets would drown the work in the log.
			lvl := slog.LevelInfo
			if route == "/metrics" || route == "/healthz" || route == "/" {
				lvl = slog.LevelDebug
			}
			s.log.Log(r.Context(), lvl, "request", "method", r.Method, "path", r.URL.Path, "code", rec.code, "bytes", rec.bytes, "took", d.Round(time.Microsecond), "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}

// handler writes the metrics in the Prometheus text exposition format.
func (m *metrics) handler(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w, s)
	}
}

func (m *metrics) write(w io.Writer, s *Server) {
	m.mu.Lock()
	type reqKey = [2]string
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	fmt.Fprintln(w, "# HELP zoomdiff_http_requests_total HTTP requests answered, by route pattern and status code (499: client went away).")
	fmt.Fprintln(w, "# TYPE zoomdiff_http_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "zoomdiff_http_requests_total{route=%s,code=%s} %d\n", quote(k[0]), quote(k[1]), m.requests[k])
	}
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	fmt.Fprintln(w, "# HELP zoomdiff_http_request_duration_seconds Time from request to the end of the answer, queueing included.")
	fmt.Fprintln(w, "# TYPE zoomdiff_http_request_duration_seconds histogram")
	for _, r := range routes {
		h := m.latency[r]
		var cum uint64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "zoomdiff_http_request_duration_seconds_bucket{route=%s,le=\"%g\"} %d\n", quote(r), b, cum)
		}
		fmt.Fprintf(w, "zoomdiff_http_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", quote(r), h.n)
		fmt.Fprintf(w, "zoomdiff_http_request_duration_seconds_sum{route=%s} %g\n", quote(r), h.sum)
		fmt.Fprintf(w, "zoomdiff_http_request_duration_seconds_count{route=%s} %d\n", quote(r), h.n)
	}
	inFlight := m.inFlight
	m.mu.Unlock()

	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	gauge("zoomdiff_http_requests_in_flight", "HTTP requests being handled now (event streams included).", inFlight)
	gauge("zoomdiff_work_running", "Requests holding a worker.", s.pool.running.Load())
	gauge("zoomdiff_work_queue_length", "Admitted requests waiting for a worker.", s.pool.waiting.Load())
	gauge("zoomdiff_work_workers", "Configured workers.", s.cfg.Workers)
	gauge("zoomdiff_work_queue_capacity", "Configured queue length; beyond workers plus this, 429.", s.cfg.Queue)
	fmt.Fprintln(w, "# HELP zoomdiff_jobs Stored asynchronous jobs by state.")
	fmt.Fprintln(w, "# TYPE zoomdiff_jobs gauge")
	counts := s.jobs.counts()
	states := make([]string, 0, len(counts))
	for st := range counts {
		states = append(states, st)
	}
	sort.Strings(states)
	for _, st := range states {
		fmt.Fprintf(w, "zoomdiff_jobs{state=%s} %d\n", quote(st), counts[st])
	}
	gauge("go_goroutines", "Goroutines that currently exist.", runtime.NumGoroutine())
	if rss, ok := residentBytes(); ok {
		gauge("process_resident_memory_bytes", "Resident set size in bytes.", rss)
	}
	if peak, ok := peakResidentBytes(); ok {
		gauge("process_max_resident_memory_bytes", "Peak resident set size in bytes since the process started.", peak)
	}
}

// quote writes a label value with the escapes the format requires.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
