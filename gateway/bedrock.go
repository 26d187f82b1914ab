package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The held secret of an AWS access key (catalog kind aws/access-key-id)
// is the key pair as "ACCESS_KEY_ID:SECRET_ACCESS_KEY", or
// "ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN" for temporary (ASIA)
// keys. None of the three contains a colon. Other aws kinds (Bedrock API
// keys) are sent as a Bearer token.
const awsKeyPairKind = "access-key-id"

// awsKeyPair splits a held AWS key pair.
func awsKeyPair(secret string) (aws.Credentials, bool) {
	parts := strings.Split(secret, ":")
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) < 16 || len(parts[1]) < 16 {
		return aws.Credentials{}, false
	}
	c := aws.Credentials{AccessKeyID: parts[0], SecretAccessKey: parts[1]}
	if len(parts) == 3 {
		c.SessionToken = parts[2]
	}
	return c, true
}

// bedrockSurface is the Bedrock runtime API. A held key pair re-signs
// every request with SigV4 for service "bedrock" in region; the client's
// own Authorization and X-Amz-* headers never pass (rewrite strips them).
func bedrockSurface(region string, now func() time.Time) *surface {
	signer := v4.NewSigner()
	return &surface{
		provider: "aws",
		// AWS answers an unknown key or a bad signature with 403 and
		// names the exception in x-amzn-ErrorType.
		rejected: func(status int, h http.Header, _ []byte) bool {
			if status == http.StatusUnauthorized {
				return true
			}
			et := h.Get("X-Amzn-Errortype")
			return status == http.StatusForbidden && (strings.HasPrefix(et, "UnrecognizedClientException") ||
				strings.HasPrefix(et, "InvalidSignatureException") || strings.HasPrefix(et, "ExpiredTokenException"))
		},
		usable: func(e *keyEntry) bool {
			if e.kind != awsKeyPairKind {
				return true
			}
			_, ok := awsKeyPair(e.key.Reveal())
			return ok
		},
		inject: func(out *http.Request, e *keyEntry, body []byte) {
			if e.kind != awsKeyPairKind {
				out.Header.Set("Authorization", "Bearer "+e.key.Reveal())
				return
			}
			creds, _ := awsKeyPair(e.key.Reveal())
			sum := sha256.Sum256(body)
			// SignHTTP fails only on a request it cannot read; then the
			// request goes unsigned and the provider refuses it.
			_ = signer.SignHTTP(context.Background(), creds, out, hex.EncodeToString(sum[:]), "bedrock", region, now())
		},
		writeError: func(w http.ResponseWriter, status int, _, _, msg string) {
			// AWS JSON errors: the exception name in X-Amzn-ErrorType.
			w.Header().Set("X-Amzn-Errortype", awsErrorType(status))
			writeJSON(w, status, []byte(`{"message":`+strconv.Quote(msg)+"}\n"))
		},
		requestID: "X-Amzn-Requestid",
		headers:   bedrockHeaders,
	}
}

func awsErrorType(status int) string {
	switch status {
	case 400, 413:
		return "ValidationException"
	case 401, 403:
		return "AccessDeniedException"
	case 404:
		return "ResourceNotFoundException"
	case 429:
		return "ThrottlingException"
	case 503:
		return "ServiceUnavailableException"
	case 504:
		return "ModelTimeoutException"
	}
	return "InternalServerException"
}

// bedrockRegion reads the region from a Bedrock runtime base URL
// ("https://bedrock-runtime.eu-west-1.amazonaws.com"), else us-east-1.
func bedrockRegion(base string) string {
	u, err := url.Parse(base)
	if err == nil {
		if r, ok := strings.CutPrefix(u.Hostname(), "bedrock-runtime."); ok {
			if r, _, ok := strings.Cut(r, "."); ok && r != "" {
				return r
			}
		}
	}
	return "us-east-1"
}

// converseUsage: Converse answers carry "usage"; ConverseStream ends with
// a "metadata" event holding it. Cache reads and writes are counted apart
// from inputTokens.
var converseUsage = &usageShape{
	json:       func(_ *exchange, body []byte) (Usage, bool) { return parseConverseUsage(body) },
	frameTypes: []string{"metadata"},
	frame: func(m *meter, eventType string, payload []byte) {
		if eventType != "metadata" {
			return
		}
		if u, ok := parseConverseUsage(payload); ok {
			m.usage, m.haveUsage, m.done = u, true, true
		}
	},
}

type converseTokens struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
}

func parseConverseUsage(b []byte) (Usage, bool) {
	var r struct {
		Usage *converseTokens `json:"usage"`
	}
	if json.Unmarshal(b, &r) != nil || r.Usage == nil {
		return Usage{}, false
	}
	u := r.Usage
	return Usage{InputTokens: max(u.InputTokens, 0), OutputTokens: max(u.OutputTokens, 0),
		CachedTokens: max(u.CacheReadInputTokens, 0), CacheWriteTokens: max(u.CacheWriteInputTokens, 0)}, true
}

// invokeUsage: InvokeModel reports token counts in response headers for
// every model; an Anthropic body's usage is the fallback. The streamed
// variant's chunks carry the model's own events (Anthropic's are
// metered as such) and the last one Bedrock's invocation metrics.
var invokeUsage = &usageShape{
	header: func(h http.Header) (Usage, bool) {
		in, err1 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Input-Token-Count"), 10, 64)
		out, err2 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Output-Token-Count"), 10, 64)
		if err1 != nil || err2 != nil {
			return Usage{}, false
		}
		u := Usage{InputTokens: max(in, 0), OutputTokens: max(out, 0)}
		if n, err := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Cache-Read-Input-Token-Count"), 10, 64); err == nil {
			u.CachedTokens = max(n, 0)
		}
		if n, err := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Cache-Write-Input-Token-Count"), 10, 64); err == nil {
			u.CacheWriteTokens = max(n, 0)
		}
		return u, true
	},
	json:       messagesUsage.json,
	frameTypes: []string{"chunk"},
	frame:      func(m *meter, eventType string, payload []byte) { invokeChunk(m, eventType, payload) },
}

// invokeChunk meters one InvokeModelWithResponseStream chunk:
// {"bytes":"<base64 of the model's own event>"}.
func invokeChunk(m *meter, eventType string, payload []byte) {
	if eventType != "chunk" {
		return
	}
	var c struct {
		Bytes []byte `json:"bytes"` // base64 in JSON
	}
	if json.Unmarshal(payload, &c) != nil || len(c.Bytes) == 0 {
		return
	}
	var ev struct {
		Type    string `json:"type"`
		Metrics *struct {
			InputTokenCount           int64 `json:"inputTokenCount"`
			OutputTokenCount          int64 `json:"outputTokenCount"`
			CacheReadInputTokenCount  int64 `json:"cacheReadInputTokenCount"`
			CacheWriteInputTokenCount int64 `json:"cacheWriteInputTokenCount"`
		} `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(c.Bytes, &ev) != nil {
		return
	}
	if ev.Type != "" {
		anthropicEvent(m, ev.Type, c.Bytes)
	}
	if mt := ev.Metrics; mt != nil {
		m.usage = Usage{InputTokens: max(mt.InputTokenCount, 0), OutputTokens: max(mt.OutputTokenCount, 0),
			CachedTokens: max(mt.CacheReadInputTokenCount, 0), CacheWriteTokens: max(mt.CacheWriteInputTokenCount, 0)}
		m.haveUsage, m.done = true, true
	}
}
