// Package httpapi serves aicred over HTTP: health and readiness probes,
// Prometheus metrics, the RFC 8693 token endpoint and the admin API. It
// wires handlers; the work is done by the broker and the store.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aicred/aicred"
)

// Metrics are the server's Prometheus collectors, registered on their own
// registry (no globals).
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	conns    *prometheus.GaugeVec
	// connStates holds each open connection's last state (ConnState).
	connStates sync.Map
}

// NewMetrics returns the collectors, with Go runtime and process metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aicred_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aicred_http_connections",
			Help: "Client connections open now, by state: active (a request in progress) or idle (kept alive between requests).",
		}, []string{"state"}),
	}
	reg.MustRegister(m.requests, m.latency, m.conns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ConnState is an http.Server ConnState hook that keeps
// aicred_http_connections: a connection counts as idle from its opening
// until its first request, active while a request is served, idle again
// between requests, and no more once closed or hijacked. Each open
// connection holds a goroutine of the server's, so the gauge tells a
// goroutine count that follows the clients' connections from one that
// leaks.
func (m *Metrics) ConnState(c net.Conn, state http.ConnState) {
	gauge := func(st http.ConnState) prometheus.Gauge {
		if st == http.StateActive {
			return m.conns.WithLabelValues("active")
		}
		return m.conns.WithLabelValues("idle")
	}
	prev, known := m.connStates.Load(c)
	if known {
		gauge(prev.(http.ConnState)).Dec()
	}
	switch state {
	case http.StateNew, http.StateActive, http.StateIdle:
		m.connStates.Store(c, state)
		gauge(state).Inc()
	default: // closed or hijacked
		m.connStates.Delete(c)
	}
}

// Instrument wraps a handler with request counting, latency and an access
// log line. The log names method, route, status and duration: never a
// header, a query string or a body, which may carry tokens.
func (m *Metrics) Instrument(route string, log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(d.Seconds())
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sw.code), slog.Duration("duration", d))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Health answers /healthz: the process is up.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Ready answers /readyz: ping (the store answers, the revocation feed is
// current) succeeds within a second.
func Ready(ping func(ctx context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "store or revocation feed not current"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// RegisterFeedAge exports age, how long ago the revocation feed was last
// read (grantcache.Cache.FeedAge), as aicred_revocation_feed_age_seconds:
// alert when it stays above a few seconds, as /readyz does.
func (m *Metrics) RegisterFeedAge(age func() time.Duration) error {
	return m.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aicred_revocation_feed_age_seconds",
		Help: "Seconds since the revocation log was last read successfully; revocations made by other servers may be unseen for this long.",
	}, func() float64 { return age().Seconds() }))
}

// MetricsHandler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusOf maps an error kind to an HTTP status.
func statusOf(err error) int {
	switch aicred.KindOf(err) {
	case aicred.ErrInvalid:
		return http.StatusBadRequest
	case aicred.ErrNotFound:
		return http.StatusNotFound
	case aicred.ErrConflict:
		return http.StatusConflict
	case aicred.ErrUnauthorized:
		return http.StatusForbidden
	case aicred.ErrUnavailable:
		return http.StatusServiceUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
