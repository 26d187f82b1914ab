package gateway

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Usage is what one request consumed. InputTokens excludes cached and
// cache-write tokens, so each count is priced once at its own rate.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	CachedTokens     int64 `json:"cached_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	// CacheWrite1hTokens is the part of CacheWriteTokens written to
	// Anthropic's one-hour cache, priced higher than the five-minute one.
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens,omitempty"`
	OutputTokens       int64 `json:"output_tokens"`
}

// Outcomes of a request, as recorded.
const (
	OutcomeOK = "ok"
	// OutcomeUpstreamError: the provider answered with an error status;
	// providers do not bill those, so the cost is 0.
	OutcomeUpstreamError = "upstream_error"
	// OutcomeNoUsage: the response or stream ended without usage; the
	// cost is the worst-case estimate (Estimated is set).
	OutcomeNoUsage = "no_usage"
	// OutcomeClientClosed: the client went away; the upstream request was
	// cancelled and the usage seen so far (or the estimate) is charged.
	OutcomeClientClosed = "client_closed"
	// OutcomeUnreachable, OutcomeTimeout: no answer from upstream.
	OutcomeUnreachable = "upstream_unreachable"
	OutcomeTimeout     = "upstream_timeout"
)

// A UsageRecord is written once per forwarded request.
type UsageRecord struct {
	Time              time.Time     `json:"time"`
	TokenID           string        `json:"token_id"`
	Workload          string        `json:"workload"` // issuer + " " + subject
	Role              string        `json:"role"`
	Provider          string        `json:"provider"`
	Model             string        `json:"model"`
	Stream            bool          `json:"stream"`
	Usage             Usage         `json:"usage"`
	CostUSD           float64       `json:"cost_usd"`
	Estimated         bool          `json:"estimated,omitempty"`
	Status            int           `json:"status"`
	Outcome           string        `json:"outcome"`
	Latency           time.Duration `json:"latency"`
	UpstreamRequestID string        `json:"upstream_request_id,omitempty"`
}

// A UsageRecorder stores usage records. RecordUsage is called after the
// response ended, off the client's critical path but on its goroutine;
// implementations should be quick and must be safe for concurrent use.
type UsageRecorder interface {
	RecordUsage(ctx context.Context, r UsageRecord) error
}

// MemoryRecorder keeps records in memory, for one process and tests.
type MemoryRecorder struct {
	mu  sync.Mutex
	rec []UsageRecord
}

// RecordUsage implements UsageRecorder.
func (m *MemoryRecorder) RecordUsage(_ context.Context, r UsageRecord) error {
	m.mu.Lock()
	m.rec = append(m.rec, r)
	m.mu.Unlock()
	return nil
}

// Records returns a copy of the records so far.
func (m *MemoryRecorder) Records() []UsageRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rec)
}

// LogRecorder writes each record as one structured log line: bounded
// memory for a server until usage has a store.
type LogRecorder struct{ Log *slog.Logger }

// RecordUsage implements UsageRecorder.
func (l LogRecorder) RecordUsage(ctx context.Context, r UsageRecord) error {
	l.Log.LogAttrs(ctx, slog.LevelInfo, "usage",
		slog.String("token", r.TokenID), slog.String("workload", r.Workload), slog.String("role", r.Role),
		slog.String("provider", r.Provider), slog.String("model", r.Model), slog.Bool("stream", r.Stream),
		slog.Int64("input_tokens", r.Usage.InputTokens), slog.Int64("cached_tokens", r.Usage.CachedTokens),
		slog.Int64("cache_write_tokens", r.Usage.CacheWriteTokens), slog.Int64("output_tokens", r.Usage.OutputTokens),
		slog.Float64("cost_usd", r.CostUSD), slog.Bool("estimated", r.Estimated), slog.Int("status", r.Status),
		slog.String("outcome", r.Outcome), slog.Duration("latency", r.Latency), slog.String("upstream_request_id", r.UpstreamRequestID))
	return nil
}
