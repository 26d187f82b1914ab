package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/aicred/aicred/broker"
)

// A surface is one provider API shape: how its errors look, how its key is
// sent and where its usage appears.
type surface struct {
	provider string
	// inject sets the real credential on an outgoing request.
	inject func(h http.Header, key string)
	// writeError writes an error in the provider's own shape.
	writeError func(w http.ResponseWriter, status int, typ, code, msg string)
	// usageJSON reads usage from a whole JSON response.
	usageJSON func(body []byte) (Usage, bool)
	// event meters one SSE event into m and reports whether the client
	// must not see it.
	event func(m *meter, ev sseEvent) (hide bool)
	// requestID is the response header carrying the provider's request id.
	requestID string
}

// A route ties a path to a surface, an operation and the upstream path.
type route struct {
	surface   *surface
	operation broker.Operation
	upstream  string // path on the provider's base URL
}

var openAI = &surface{
	provider: "openai",
	inject: func(h http.Header, key string) {
		h.Set("Authorization", "Bearer "+key)
	},
	writeError: func(w http.ResponseWriter, status int, typ, code, msg string) {
		var b bytes.Buffer
		b.WriteString(`{"error":{"message":`)
		b.WriteString(strconv.Quote(msg))
		b.WriteString(`,"type":`)
		b.WriteString(strconv.Quote(typ))
		b.WriteString(`,"param":null,"code":`)
		b.WriteString(strconv.Quote(code))
		b.WriteString("}}\n")
		writeJSON(w, status, b.Bytes())
	},
	usageJSON: func(body []byte) (Usage, bool) {
		var r struct {
			Usage *openAIUsage `json:"usage"`
		}
		if json.Unmarshal(body, &r) != nil || r.Usage == nil {
			return Usage{}, false
		}
		return r.Usage.usage(), true
	},
	event: func(m *meter, ev sseEvent) bool {
		if string(ev.data) == "[DONE]" {
			m.done = true
			return false
		}
		// Chunks carry "usage":null except the usage chunk; decode only
		// an event that has a usage object.
		i := bytes.Index(ev.data, []byte(`"usage"`))
		if i < 0 || bytes.HasPrefix(bytes.TrimLeft(ev.data[i+7:], " \t:"), []byte("null")) {
			return false
		}
		var c struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *openAIUsage      `json:"usage"`
		}
		if json.Unmarshal(ev.data, &c) != nil || c.Usage == nil {
			return false
		}
		m.usage, m.haveUsage = c.Usage.usage(), true
		return m.hideUsageChunk && len(c.Choices) == 0
	},
	requestID: "X-Request-Id",
}

type openAIUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// usage splits prompt tokens into uncached and cached (OpenAI counts the
// cached ones inside prompt_tokens).
func (u *openAIUsage) usage() Usage {
	var cached int64
	if u.PromptTokensDetails != nil {
		cached = min(max(u.PromptTokensDetails.CachedTokens, 0), u.PromptTokens)
	}
	return Usage{InputTokens: u.PromptTokens - cached, CachedTokens: cached, OutputTokens: u.CompletionTokens}
}

// openAIResponses is the Responses API: OpenAI's errors and key, usage in
// input_tokens/output_tokens, and in streams only in the terminal event
// (response.completed, .incomplete or .failed), which is metered too.
var openAIResponses = &surface{
	provider:   "openai",
	inject:     openAI.inject,
	writeError: openAI.writeError,
	usageJSON: func(body []byte) (Usage, bool) {
		var r struct {
			Usage *responsesUsage `json:"usage"`
		}
		if json.Unmarshal(body, &r) != nil || r.Usage == nil {
			return Usage{}, false
		}
		return r.Usage.usage(), true
	},
	event: func(m *meter, ev sseEvent) bool {
		switch string(ev.name) {
		case "response.completed", "response.incomplete", "response.failed":
			var e struct {
				Response struct {
					Usage *responsesUsage `json:"usage"`
				} `json:"response"`
			}
			if json.Unmarshal(ev.data, &e) == nil && e.Response.Usage != nil {
				m.usage, m.haveUsage = e.Response.Usage.usage(), true
			}
			m.done = true
		}
		return false
	},
	requestID: "X-Request-Id",
}

type responsesUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
}

func (u *responsesUsage) usage() Usage {
	o := openAIUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens}
	if u.InputTokensDetails != nil {
		o.PromptTokensDetails = &struct {
			CachedTokens int64 `json:"cached_tokens"`
		}{u.InputTokensDetails.CachedTokens}
	}
	return o.usage()
}

var anthropicAPI = &surface{
	provider: "anthropic",
	inject: func(h http.Header, key string) {
		h.Set("X-Api-Key", key)
	},
	writeError: func(w http.ResponseWriter, status int, typ, _, msg string) {
		var b bytes.Buffer
		b.WriteString(`{"type":"error","error":{"type":`)
		b.WriteString(strconv.Quote(typ))
		b.WriteString(`,"message":`)
		b.WriteString(strconv.Quote(msg))
		b.WriteString("}}\n")
		writeJSON(w, status, b.Bytes())
	},
	usageJSON: func(body []byte) (Usage, bool) {
		var r struct {
			Usage *anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(body, &r) != nil || r.Usage == nil {
			return Usage{}, false
		}
		var u Usage
		r.Usage.apply(&u)
		return u, true
	},
	event: func(m *meter, ev sseEvent) bool {
		switch string(ev.name) {
		case "message_start":
			var e struct {
				Message struct {
					Usage *anthropicUsage `json:"usage"`
				} `json:"message"`
			}
			if json.Unmarshal(ev.data, &e) == nil && e.Message.Usage != nil {
				e.Message.Usage.apply(&m.usage)
				m.started = true
			}
		case "message_delta":
			// Cumulative: assign, never add.
			var e struct {
				Usage *anthropicUsage `json:"usage"`
			}
			if json.Unmarshal(ev.data, &e) == nil && e.Usage != nil {
				e.Usage.apply(&m.usage)
				m.haveUsage = m.started
			}
		case "message_stop":
			m.done = true
		}
		return false
	},
	requestID: "Request-Id",
}

// anthropicUsage fields are pointers: a message_delta overwrites only the
// counts it carries.
type anthropicUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral1h *int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

func (a *anthropicUsage) apply(u *Usage) {
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&u.InputTokens, a.InputTokens)
	set(&u.OutputTokens, a.OutputTokens)
	set(&u.CacheWriteTokens, a.CacheCreationInputTokens)
	set(&u.CachedTokens, a.CacheReadInputTokens)
	if a.CacheCreation != nil {
		set(&u.CacheWrite1hTokens, a.CacheCreation.Ephemeral1h)
	}
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
