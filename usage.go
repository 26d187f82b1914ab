package aicred

import "time"

// Usage is what one gateway request consumed. InputTokens excludes cached
// and cache-write tokens, so each count is priced once at its own rate.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	CachedTokens     int64 `json:"cached_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	// CacheWrite1hTokens is the part of CacheWriteTokens written to
	// Anthropic's one-hour cache, priced higher than the five-minute one.
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens,omitempty"`
	OutputTokens       int64 `json:"output_tokens"`
	// Units counts what a model priced per unit rather than per token
	// consumed (Unit: UnitImage, UnitSecond of audio, UnitCharacter of
	// speech input); such calls have no token counts.
	Units int64  `json:"units,omitempty"`
	Unit  string `json:"unit,omitempty"`
}

// Units of models priced per unit.
const (
	UnitImage     = "image"
	UnitSecond    = "second"
	UnitCharacter = "character"
	// UnitByte counts bytes moved, for APIs metered by volume (the S3
	// fence; registries, tracking, vector databases and http upstreams
	// count request and response bytes).
	UnitByte = "byte"
)

// Total is every token counted in u.
func (u Usage) Total() int64 {
	return u.InputTokens + u.CachedTokens + u.CacheWriteTokens + u.OutputTokens
}

// Outcomes of a gateway request, as recorded.
const (
	OutcomeOK = "ok"
	// OutcomeUpstreamError: the provider answered with an error status;
	// providers do not bill those, so the cost is 0 unless usage came back.
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

// A UsageRecord is written once per request the gateway forwarded. It
// names the token, never carries it.
type UsageRecord struct {
	// ID is the record's idempotency key (a UUIDv7, set by the gateway's
	// recorder): a store given the same ID twice keeps the first record
	// and ignores the second, so a batch retried after its commit's
	// answer was lost is not counted twice. "" writes without a key.
	ID      string    `json:"id,omitempty"`
	Time    time.Time `json:"time"`
	TokenID string    `json:"token_id"`
	// CredentialID is the held credential the gateway injected for the
	// request ("" when none was chosen: refused before a key was picked).
	CredentialID string  `json:"credential_id,omitempty"`
	Workload     string  `json:"workload"` // issuer + " " + subject
	Role         string  `json:"role"`
	Environment  string  `json:"environment,omitempty"`
	Provider     string  `json:"provider"`
	Model        string  `json:"model"`
	Operation    string  `json:"operation,omitempty"`
	Stream       bool    `json:"stream"`
	Usage        Usage   `json:"usage"`
	CostUSD      float64 `json:"cost_usd"`
	// Estimated: no usage came back, CostUSD is the reservation.
	Estimated         bool          `json:"estimated,omitempty"`
	Status            int           `json:"status"`
	Outcome           string        `json:"outcome"`
	Latency           time.Duration `json:"latency"`
	UpstreamRequestID string        `json:"upstream_request_id,omitempty"`
	// SourceIP and UserAgent describe the calling workload's connection,
	// for the abuse detector (a new address or client for a workload).
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}
