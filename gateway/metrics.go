package gateway

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// otherModel is the model label of every model the price table does not
// know: a client can name any model, so the label must not follow it.
const otherModel = "other"

// Metrics counts the gateway's traffic into Prometheus. It is a
// UsageRecorder and a RefusalObserver: chain it with gateway.Recorders and
// gateway.RefusalObservers. Every label takes a bounded set of values
// (providers, operations and outcomes the gateway defines, priced models,
// refusal codes), never a token, a workload or a client-chosen string.
type Metrics struct {
	prices    *PriceTable
	requests  *prometheus.CounterVec
	cost      *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	estimated *prometheus.CounterVec
}

// NewMetrics registers the gateway's collectors on reg. prices names the
// models that get their own cost label (nil: DefaultPrices); pass the
// table the gateway meters with.
func NewMetrics(reg prometheus.Registerer, prices *PriceTable) (*Metrics, error) {
	if prices == nil {
		prices = DefaultPrices()
	}
	m := &Metrics{
		prices: prices,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_gateway_requests_total",
			Help: "Requests the gateway forwarded upstream, by provider, operation and outcome.",
		}, []string{"provider", "operation", "outcome"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_gateway_cost_usd_total",
			Help: `Metered cost in US dollars, by provider and priced model ("other" for models without a price of their own).`,
		}, []string{"provider", "model"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_gateway_tokens_total",
			Help: "Tokens metered, by provider and type (input excludes cached and cache_write).",
		}, []string{"provider", "type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_gateway_refusals_total",
			Help: "Requests refused before any upstream call, by provider, refusal code and HTTP status.",
		}, []string{"provider", "code", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aicred_gateway_upstream_latency_seconds",
			Help: "Time from the request to the end of the upstream response, by provider.",
			// Model calls run from tens of milliseconds to minutes.
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"provider"}),
		estimated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aicred_gateway_estimated_total",
			Help: "Requests that returned no usage and were charged the worst-case reservation, by provider.",
		}, []string{"provider"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.cost, m.tokens, m.refusals, m.latency, m.estimated} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway metrics: %w", err)
		}
	}
	return m, nil
}

// RecordUsage implements UsageRecorder.
func (m *Metrics) RecordUsage(_ context.Context, r UsageRecord) error {
	op := r.Operation
	if op == "" {
		op = "unknown"
	}
	m.requests.WithLabelValues(r.Provider, op, r.Outcome).Inc()
	if r.CostUSD > 0 && !math.IsInf(r.CostUSD, 0) {
		model := otherModel
		if p, ok := m.prices.Lookup(r.Provider, r.Model); ok {
			model = p.Model // the undated id: snapshots share one series
		}
		m.cost.WithLabelValues(r.Provider, model).Add(r.CostUSD)
	}
	u := r.Usage
	for _, t := range [...]struct {
		typ string
		n   int64
	}{{"input", u.InputTokens}, {"cached", u.CachedTokens}, {"cache_write", u.CacheWriteTokens}, {"output", u.OutputTokens}} {
		if t.n > 0 {
			m.tokens.WithLabelValues(r.Provider, t.typ).Add(float64(t.n))
		}
	}
	if r.Latency > 0 {
		m.latency.WithLabelValues(r.Provider).Observe(r.Latency.Seconds())
	}
	if r.Estimated {
		m.estimated.WithLabelValues(r.Provider).Inc()
	}
	return nil
}

// ObserveRefusal implements RefusalObserver.
func (m *Metrics) ObserveRefusal(_ context.Context, r Refusal) {
	m.refusals.WithLabelValues(r.Provider, r.Code, strconv.Itoa(r.Status)).Inc()
}
