package gateway

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/aicred/aicred"
)

// Usage, UsageRecord and the outcomes are the root types; the gateway
// re-exports them under their old names.
type (
	Usage       = aicred.Usage
	UsageRecord = aicred.UsageRecord
)

// Outcomes of a request, as recorded.
const (
	OutcomeOK            = aicred.OutcomeOK
	OutcomeUpstreamError = aicred.OutcomeUpstreamError
	OutcomeNoUsage       = aicred.OutcomeNoUsage
	OutcomeClientClosed  = aicred.OutcomeClientClosed
	OutcomeUnreachable   = aicred.OutcomeUnreachable
	OutcomeTimeout       = aicred.OutcomeTimeout
)

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

// Recorders fans each record out to every recorder in order (a store, the
// metrics, the abuse detector); it returns the first error after trying
// them all.
type Recorders []UsageRecorder

// RecordUsage implements UsageRecorder.
func (rs Recorders) RecordUsage(ctx context.Context, r UsageRecord) error {
	var first error
	for _, u := range rs {
		if err := u.RecordUsage(ctx, r); err != nil && first == nil {
			first = err
		}
	}
	return first
}
