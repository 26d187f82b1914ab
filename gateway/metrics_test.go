package gateway

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aicred/aicred/sqlite"
)

// sample reads one series from reg: the counter's value, or the
// histogram's count. ok is false when the series does not exist.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			default:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// seriesOf lists the label sets of name, sorted, as "k=v,k=v".
func seriesOf(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	fams, _ := reg.Gather()
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			out = append(out, strings.Join(kv, ","))
		}
	}
	sort.Strings(out)
	return out
}

func TestMetricsRecordUsage(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	recs := []UsageRecord{
		{Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.25,
			Usage: Usage{InputTokens: 1000, CachedTokens: 200, OutputTokens: 300}, Latency: 300 * time.Millisecond},
		// A dated snapshot is priced by its own entry and counts under
		// its own id, never its undated id's.
		{Provider: "openai", Model: "gpt-4o-mini-2024-07-18", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.5,
			Usage: Usage{InputTokens: 10, OutputTokens: 5}, Latency: time.Second},
		// Names the price table does not know collapse to "other".
		{Provider: "openai", Model: "my-finetune-1", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.125, Latency: time.Second},
		{Provider: "openai", Model: "my-finetune-2", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.125, Latency: time.Second},
		{Provider: "anthropic", Model: "claude-haiku-4-5", Operation: "chat", Outcome: OutcomeNoUsage, Estimated: true, CostUSD: 2,
			Latency: 2 * time.Second},
		{Provider: "anthropic", Model: "claude-haiku-4-5", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.01,
			Usage: Usage{InputTokens: 7, CacheWriteTokens: 100, OutputTokens: 9}, Latency: time.Second},
		// No answer: no cost, no tokens, no latency.
		{Provider: "anthropic", Model: "claude-haiku-4-5", Operation: "chat", Outcome: OutcomeUnreachable},
		// A NaN or negative cost must not panic the counter.
		{Provider: "openai", Model: "gpt-4o", Outcome: OutcomeUpstreamError, CostUSD: math.NaN()},
		{Provider: "openai", Model: "gpt-4o", Outcome: OutcomeUpstreamError, CostUSD: -1},
	}
	for _, r := range recs {
		if err := m.RecordUsage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aicred_gateway_requests_total", map[string]string{"provider": "openai", "operation": "chat", "outcome": "ok"}, 4},
		{"aicred_gateway_requests_total", map[string]string{"provider": "anthropic", "operation": "chat", "outcome": "no_usage"}, 1},
		{"aicred_gateway_requests_total", map[string]string{"provider": "anthropic", "operation": "chat", "outcome": "upstream_unreachable"}, 1},
		{"aicred_gateway_requests_total", map[string]string{"provider": "openai", "operation": "unknown", "outcome": "upstream_error"}, 2},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "gpt-4o-mini"}, 0.25},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "gpt-4o-mini-2024-07-18"}, 0.5},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "other"}, 0.25},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "anthropic", "model": "claude-haiku-4-5"}, 2.01},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "openai", "type": "input"}, 1010},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "openai", "type": "cached"}, 200},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "openai", "type": "output"}, 305},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "anthropic", "type": "cache_write"}, 100},
		{"aicred_gateway_upstream_latency_seconds", map[string]string{"provider": "openai"}, 4},
		{"aicred_gateway_upstream_latency_seconds", map[string]string{"provider": "anthropic"}, 2},
		{"aicred_gateway_estimated_total", map[string]string{"provider": "anthropic"}, 1},
	}
	for _, c := range cases {
		got, ok := sample(t, reg, c.name, c.labels)
		if !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// The model label only ever takes priced ids and "other".
	want := []string{"model=claude-haiku-4-5,provider=anthropic", "model=gpt-4o-mini,provider=openai",
		"model=gpt-4o-mini-2024-07-18,provider=openai", "model=other,provider=openai"}
	if got := seriesOf(t, reg, "aicred_gateway_cost_usd_total"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cost series %v, want %v", got, want)
	}
	if _, ok := sample(t, reg, "aicred_gateway_estimated_total", map[string]string{"provider": "openai"}); ok {
		t.Error("an estimated series for a provider that had no estimate")
	}
}

func TestMetricsOverridePrices(t *testing.T) {
	prices, err := ParsePrices([]byte(`{"models":[{"provider":"openai","model":"my-finetune","input":1,"output":2,"source":"contract","as_of":"2026-01-01"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, prices)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.RecordUsage(context.Background(), UsageRecord{Provider: "openai", Model: "my-finetune", Outcome: OutcomeOK, CostUSD: 1})
	if v, ok := sample(t, reg, "aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "my-finetune"}); !ok || v != 1 {
		t.Fatalf("cost of a model priced by the given table: %v %v", v, ok)
	}
}

func TestMetricsRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obs RefusalObserver = m
	for _, r := range []Refusal{
		{Provider: "openai", Code: "forbidden", Status: http.StatusForbidden, Model: "gpt-5"},
		{Provider: "openai", Code: "forbidden", Status: http.StatusForbidden},
		{Provider: "anthropic", Code: "invalid_api_key", Status: http.StatusUnauthorized},
		{Provider: "openai", Code: "request_too_large", Status: http.StatusRequestEntityTooLarge},
	} {
		obs.ObserveRefusal(context.Background(), r)
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"provider": "openai", "code": "forbidden", "status": "403"}, 2},
		{map[string]string{"provider": "anthropic", "code": "invalid_api_key", "status": "401"}, 1},
		{map[string]string{"provider": "openai", "code": "request_too_large", "status": "413"}, 1},
	} {
		if got, ok := sample(t, reg, "aicred_gateway_refusals_total", c.labels); !ok || got != c.want {
			t.Errorf("refusals%v = %v, want %v", c.labels, got, c.want)
		}
	}
}

// TestMetricsWithRecorders checks the fan-out wiring the server uses.
func TestMetricsWithRecorders(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := &MemoryRecorder{}
	var rec UsageRecorder = Recorders{mem, m}
	_ = rec.RecordUsage(context.Background(), UsageRecord{Provider: "openai", Model: "gpt-4o", Operation: "chat", Outcome: OutcomeOK, CostUSD: 1})
	if got, _ := sample(t, reg, "aicred_gateway_requests_total", map[string]string{"provider": "openai", "operation": "chat", "outcome": "ok"}); got != 1 || len(mem.Records()) != 1 {
		t.Fatalf("fan-out: metrics %v, memory %d", got, len(mem.Records()))
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg, nil); err == nil {
		t.Fatal("registering the gateway metrics twice on one registry succeeded")
	}
}

// TestMetricsThroughGateway: a real request through the gateway shows in
// the metrics, and a refusal is counted with its code.
func TestMetricsThroughGateway(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 41, func(c *Config) {
		c.Usage = Recorders{c.Usage, m}
		c.Refusals = m
	})
	f.openai = openAIJSON
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, tok := range []string{f.token, "not-a-token"} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	f.waitRecords(t, 1)
	if got, _ := sample(t, reg, "aicred_gateway_requests_total", map[string]string{"provider": "openai", "operation": "chat", "outcome": "ok"}); got != 1 {
		t.Errorf("requests: %v", got)
	}
	cost := (1000*0.15 + 200*0.075 + 300*0.60) / 1e6
	if got, _ := sample(t, reg, "aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "gpt-4o-mini"}); !near(got, cost) {
		t.Errorf("cost %v, want %v", got, cost)
	}
	if got, _ := sample(t, reg, "aicred_gateway_refusals_total", map[string]string{"provider": "openai", "code": "invalid_api_key", "status": "401"}); got != 1 {
		t.Errorf("refusals: %v", got)
	}
}

// TestRegisterStoreRecorder: records written to a SQLite store and a
// record refused after Close are counted.
func TestRegisterStoreRecorder(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "usage.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := NewStoreRecorder(st, StoreRecorderConfig{FlushEvery: 5 * time.Millisecond})
	reg := prometheus.NewRegistry()
	if err := RegisterStoreRecorder(reg, rec); err != nil {
		t.Fatal(err)
	}
	r := UsageRecord{Time: time.Now(), TokenID: "tok_metrics", Provider: "openai", Model: "gpt-4o-mini", Outcome: OutcomeOK, CostUSD: 0.01}
	for range 3 {
		if err := rec.RecordUsage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.RecordUsage(ctx, r); err == nil {
		t.Fatal("a closed recorder took a record")
	}
	for name, want := range map[string]float64{
		"aicred_gateway_usage_records_written_total": 3,
		"aicred_gateway_usage_records_lost_total":    1,
		"aicred_gateway_usage_records_queued":        0,
		"aicred_gateway_usage_write_retries_total":   0,
	} {
		if got := gaugeOrCounter(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if err := RegisterStoreRecorder(reg, rec); err == nil {
		t.Error("registering the recorder's metrics twice succeeded")
	}
}

// TestRegisterDetector: a burst of authorization failures from one
// address raises one auth_failures alert, counted by kind.
func TestRegisterDetector(t *testing.T) {
	d, err := NewDetector(DetectorConfig{AuthFailures: 3})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterDetector(reg, d); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 5 {
		d.ObserveRefusal(context.Background(), Refusal{Time: now.Add(time.Duration(i) * time.Second), Provider: "openai",
			Status: http.StatusUnauthorized, Code: "invalid_api_key", SourceIP: "192.0.2.7"})
	}
	if got, ok := sample(t, reg, "aicred_gateway_anomaly_alerts_total", map[string]string{"kind": string(AlertAuthFailures)}); !ok || got != 1 {
		t.Errorf("auth_failures alerts: %v (present %v), want 1", got, ok)
	}
	if got, ok := sample(t, reg, "aicred_gateway_anomaly_alerts_total", map[string]string{"kind": string(AlertSpendSpike)}); !ok || got != 0 {
		t.Errorf("spend_spike alerts: %v (present %v), want 0", got, ok)
	}
	if got := gaugeOrCounter(t, reg, "aicred_gateway_anomaly_suspensions_total"); got != 0 {
		t.Errorf("suspensions %v", got)
	}
}

// gaugeOrCounter reads an unlabelled series.
func gaugeOrCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

func BenchmarkMetricsRecordUsage(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	r := UsageRecord{Provider: "openai", Model: "gpt-4o-mini-2024-07-18", Operation: "chat", Outcome: OutcomeOK, CostUSD: 0.001,
		Usage: Usage{InputTokens: 1000, CachedTokens: 200, OutputTokens: 300}, Latency: 300 * time.Millisecond}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = m.RecordUsage(ctx, r)
		}
	})
}

func BenchmarkMetricsObserveRefusal(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	r := Refusal{Provider: "openai", Code: "forbidden", Status: http.StatusForbidden}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRefusal(ctx, r)
	}
}
