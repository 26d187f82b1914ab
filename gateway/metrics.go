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
			model = p.Model // a priced model has its own series (unpriced ones share "other")
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

// statsCollector reads counters from a component at scrape time, so the
// component keeps its own atomics and the hot path pays nothing more.
type statsCollector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (s statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

func (s statsCollector) Collect(ch chan<- prometheus.Metric) { s.collect(ch) }

// RegisterStoreRecorder exposes r's counters on reg: records written to
// the store, records lost (the queue was full or the store refused
// them), records waiting and writes retried. A loss is logged too; the
// counter is what an alert rule watches.
func RegisterStoreRecorder(reg prometheus.Registerer, r *StoreRecorder) error {
	written := prometheus.NewDesc("aicred_gateway_usage_records_written_total", "Usage records written to the store.", nil, nil)
	lost := prometheus.NewDesc("aicred_gateway_usage_records_lost_total", "Usage records dropped: the queue was full, the recorder closed or the store refused them.", nil, nil)
	queued := prometheus.NewDesc("aicred_gateway_usage_records_queued", "Usage records waiting to be written.", nil, nil)
	retries := prometheus.NewDesc("aicred_gateway_usage_write_retries_total", "Failed store writes of usage records, retried.", nil, nil)
	c := statsCollector{descs: []*prometheus.Desc{written, lost, queued, retries}, collect: func(ch chan<- prometheus.Metric) {
		s := r.Stats()
		ch <- prometheus.MustNewConstMetric(written, prometheus.CounterValue, float64(s.Written))
		ch <- prometheus.MustNewConstMetric(lost, prometheus.CounterValue, float64(s.Lost))
		ch <- prometheus.MustNewConstMetric(queued, prometheus.GaugeValue, float64(s.Queued))
		ch <- prometheus.MustNewConstMetric(retries, prometheus.CounterValue, float64(s.Retries))
	}}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("usage recorder metrics: %w", err)
	}
	return nil
}

// RegisterDetector exposes d's counters on reg: alerts raised by kind,
// alerts dropped because the queue was full, workloads suspended.
func RegisterDetector(reg prometheus.Registerer, d *Detector) error {
	alerts := prometheus.NewDesc("aicred_gateway_anomaly_alerts_total", "Abuse alerts raised, by kind.", []string{"kind"}, nil)
	dropped := prometheus.NewDesc("aicred_gateway_anomaly_alerts_dropped_total", "Abuse alerts lost because the detector's queue was full.", nil, nil)
	suspended := prometheus.NewDesc("aicred_gateway_anomaly_suspensions_total", "Workloads suspended by the abuse detector.", nil, nil)
	c := statsCollector{descs: []*prometheus.Desc{alerts, dropped, suspended}, collect: func(ch chan<- prometheus.Metric) {
		s := d.Stats()
		for _, k := range alertKinds {
			ch <- prometheus.MustNewConstMetric(alerts, prometheus.CounterValue, float64(s.Alerts[k]), string(k))
		}
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(s.Dropped))
		ch <- prometheus.MustNewConstMetric(suspended, prometheus.CounterValue, float64(s.Suspensions))
	}}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("anomaly detector metrics: %w", err)
	}
	return nil
}
