package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// A surface is one provider as the gateway speaks to it: the catalog's
// provider id, how its key is sent and how its errors look.
type surface struct {
	provider string
	// inject sets the real credential on an outgoing request whose body
	// is body.
	inject func(out *http.Request, key *keyEntry, body []byte)
	// usable reports whether a held credential can be injected (an AWS
	// key pair must be in its documented form); nil: any.
	usable func(key *keyEntry) bool
	// writeError writes an error in the provider's own shape.
	writeError func(w http.ResponseWriter, status int, typ, code, msg string)
	// requestID is the response header carrying the provider's request id.
	requestID string
	// askUsage: the provider honours stream_options.include_usage on chat
	// completions, so the gateway asks for the usage chunk.
	askUsage bool
	// rejected reports whether an error response says the provider
	// refused the held key itself (nil: a 401). Its error body is passed
	// whole, at most maxRejectedBody bytes.
	rejected func(status int, h http.Header, body []byte) bool
	// headers is the request-header allow-list (headers.go); nil
	// forwards only the transport's own.
	headers *headerPolicy
	// The ML stack surfaces (mlstack.go) set these:
	// upstream is the Upstreams key of the base URL ("" : provider).
	upstream string
	// resolve reads the resource the request names from its path and
	// body, checks it against the token's role before anything goes
	// upstream, and sets the exchange's target URL and query.
	resolve func(x *exchange) error
	// answer reads a successful answer after scrubbing (redirects made
	// relative to the mount, objects learned); nil: none.
	answer func(g *Gateway, x *exchange, resp *http.Response) error
	// basicUser: the SDK sends its key as HTTP Basic password with this
	// user name (W&B: "api"); the token may come that way.
	basicUser string
	// bytes: usage is counted as request and response bytes
	// (aicred.UnitByte), one record per request, cost 0.
	bytes bool
}

// base is the Upstreams key of the surface's base URL.
func (s *surface) base() string {
	if s.upstream != "" {
		return s.upstream
	}
	return s.provider
}

// maxRejectedBody bounds the error body read to tell a rejected key.
const maxRejectedBody = 64 << 10

// usageShape says where a route's response reports usage. A model call
// without one is charged at its reservation.
type usageShape struct {
	// json reads usage from a whole (non-streamed) response.
	json func(x *exchange, body []byte) (Usage, bool)
	// event meters one SSE event into m and reports whether the client
	// must not see it.
	event func(m *meter, ev sseEvent) (hide bool)
	// frame meters one AWS event-stream message of a type in frameTypes.
	frame      func(m *meter, eventType string, payload []byte)
	frameTypes []string
	// header reads usage from response headers (Bedrock InvokeModel).
	header func(h http.Header) (Usage, bool)
	// request: usage is known from the request itself (speech: the
	// characters sent), charged when the provider answers with success.
	request func(x *exchange) Usage
}

// bodyKind says how a route's request body is read.
type bodyKind uint8

const (
	bodyJSON      bodyKind = iota // one JSON object; its "model" is authorized
	bodyMultipart                 // multipart/form-data; its "model" field is authorized
	bodyAny                       // forwarded as sent, not parsed (GET, DELETE, cancel)
)

// unitKind is how a model priced per unit rather than per token is metered.
type unitKind uint8

const (
	unitNone    unitKind = iota
	unitImages           // per image generated
	unitSeconds          // per second of audio (priced per minute)
	unitChars            // per character of input (speech)
)

// name is the unit as usage records name it.
func (u unitKind) name() string {
	switch u {
	case unitImages:
		return aicred.UnitImage
	case unitSeconds:
		return aicred.UnitSecond
	case unitChars:
		return aicred.UnitCharacter
	}
	return ""
}

// A route ties a method and path to a surface, an operation and the
// upstream path.
type route struct {
	method    string
	path      string // ServeMux path under the mount; {name} wildcards
	surface   *surface
	operation broker.Operation
	// upstream is the path on the provider's base URL; {name} takes the
	// request's wildcard value.
	upstream string
	body     bodyKind
	usage    *usageShape
	// free: not a model call (files, batches, fine-tuning jobs, model
	// lists, token counts); recorded at cost 0.
	free bool
	unit unitKind
	// pathModel names the wildcard holding the model (Gemini, Bedrock,
	// Azure deployments); the body's model is then not used.
	pathModel string
	// defaultModel is what the provider runs when the request names no
	// model; authorization and pricing use it.
	defaultModel string
	// stream: the route always streams (Bedrock converse-stream).
	stream bool
	// wild: upstream has wildcards to fill.
	wild bool
	// api is the request shape; fields its allowed body fields (nil:
	// the route forwards no body).
	api    api
	fields *fieldSet
	// obj says what the route does with files and batches (objects.go).
	obj objectUse
}

func openAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b bytes.Buffer
	b.WriteString(`{"error":{"message":`)
	b.WriteString(strconv.Quote(msg))
	b.WriteString(`,"type":`)
	b.WriteString(strconv.Quote(typ))
	b.WriteString(`,"param":null,"code":`)
	b.WriteString(strconv.Quote(code))
	b.WriteString("}}\n")
	writeJSON(w, status, b.Bytes())
}

func bearer(out *http.Request, key *keyEntry, _ []byte) {
	out.Header.Set("Authorization", "Bearer "+key.key.Reveal())
}

var openAI = openAICompatible("openai", true)

// openAICompatible is a provider that speaks OpenAI's API with a Bearer
// key: OpenAI itself and the OpenAI-compatible providers.
func openAICompatible(provider string, askUsage bool) *surface {
	h := compatHeaders
	if provider == "openai" {
		h = openAIHeaders
	}
	return &surface{provider: provider, inject: bearer, writeError: openAIError, requestID: "X-Request-Id", askUsage: askUsage, headers: h}
}

// chatUsage is OpenAI Chat Completions (and embeddings, whose usage is
// prompt_tokens alone).
var chatUsage = &usageShape{
	json: func(_ *exchange, body []byte) (Usage, bool) {
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

// responsesUsage is the Responses API: usage in input_tokens/output_tokens,
// and in streams only in the terminal event (response.completed,
// .incomplete or .failed), which is metered too.
var responsesUsage = &usageShape{
	json: func(_ *exchange, body []byte) (Usage, bool) {
		var r struct {
			Usage *tokensUsage `json:"usage"`
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
					Usage *tokensUsage `json:"usage"`
				} `json:"response"`
			}
			if json.Unmarshal(ev.data, &e) == nil && e.Response.Usage != nil {
				m.usage, m.haveUsage = e.Response.Usage.usage(), true
			}
			m.done = true
		}
		return false
	},
}

// tokensUsage is OpenAI's input_tokens/output_tokens usage (Responses,
// gpt-image-1, gpt-4o-transcribe).
type tokensUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
}

func (u *tokensUsage) usage() Usage {
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
	inject: func(out *http.Request, key *keyEntry, _ []byte) {
		out.Header.Set("X-Api-Key", key.key.Reveal())
	},
	writeError: func(w http.ResponseWriter, status int, typ, _, msg string) {
		if status == http.StatusTooManyRequests {
			typ = "rate_limit_error"
		}
		var b bytes.Buffer
		b.WriteString(`{"type":"error","error":{"type":`)
		b.WriteString(strconv.Quote(typ))
		b.WriteString(`,"message":`)
		b.WriteString(strconv.Quote(msg))
		b.WriteString("}}\n")
		writeJSON(w, status, b.Bytes())
	},
	requestID: "Request-Id",
	headers:   anthropicHeaders,
}

var messagesUsage = &usageShape{
	json: func(_ *exchange, body []byte) (Usage, bool) {
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
		anthropicEvent(m, string(ev.name), ev.data)
		return false
	},
}

// anthropicEvent meters one Messages stream event (also found inside
// Bedrock's InvokeModel stream chunks).
func anthropicEvent(m *meter, name string, data []byte) {
	switch name {
	case "message_start":
		var e struct {
			Message struct {
				Usage *anthropicUsage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message.Usage != nil {
			e.Message.Usage.apply(&m.usage)
			m.started = true
		}
	case "message_delta":
		// Cumulative: assign, never add.
		var e struct {
			Usage *anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(data, &e) == nil && e.Usage != nil {
			e.Usage.apply(&m.usage)
			m.haveUsage = m.started
		}
	case "message_stop":
		m.done = true
	}
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

// imagesUsage: gpt-image-1 reports token usage; DALL-E models are priced
// per image, counted in the response's data array.
var imagesUsage = &usageShape{
	json: func(x *exchange, body []byte) (Usage, bool) {
		var r struct {
			Data  []json.RawMessage `json:"data"`
			Usage *tokensUsage      `json:"usage"`
		}
		if json.Unmarshal(body, &r) != nil {
			return Usage{}, false
		}
		if x.units {
			return Usage{InputTokens: int64(len(r.Data))}, r.Data != nil
		}
		if r.Usage == nil {
			return Usage{}, false
		}
		return r.Usage.usage(), true
	},
	event: func(m *meter, ev sseEvent) bool {
		// gpt-image-1 streams end with image_generation.completed (or
		// image_edit.completed) carrying usage.
		if bytes.HasSuffix(ev.name, []byte(".completed")) {
			tokenUsageEvent(m, ev.data)
			m.done = true
		}
		return false
	},
}

// transcriptionUsage: whisper-1 reports {"type":"duration","seconds":N},
// gpt-4o-transcribe {"type":"tokens",...}; streams end with
// transcript.text.done carrying usage.
var transcriptionUsage = &usageShape{
	json: func(x *exchange, body []byte) (Usage, bool) {
		var r struct {
			Usage *audioUsage `json:"usage"`
		}
		if json.Unmarshal(body, &r) != nil || r.Usage == nil {
			return Usage{}, false
		}
		return r.Usage.usage(x.units)
	},
	event: func(m *meter, ev sseEvent) bool {
		var e struct {
			Type  string      `json:"type"`
			Usage *audioUsage `json:"usage"`
		}
		if json.Unmarshal(ev.data, &e) == nil && e.Type == "transcript.text.done" {
			if e.Usage != nil {
				m.usage, m.haveUsage = e.Usage.usage(m.x.units)
			}
			m.done = true
		}
		return false
	},
}

type audioUsage struct {
	Type    string  `json:"type"`
	Seconds float64 `json:"seconds"`
	tokensUsage
}

func (a *audioUsage) usage(units bool) (Usage, bool) {
	switch {
	case units && a.Type == "duration":
		// Billed by the second; a part second counts whole.
		s := int64(a.Seconds)
		if float64(s) < a.Seconds {
			s++
		}
		return Usage{InputTokens: s}, true
	case !units && a.Type == "tokens":
		return a.tokensUsage.usage(), true
	}
	return Usage{}, false
}

func tokenUsageEvent(m *meter, data []byte) {
	var e struct {
		Usage *tokensUsage `json:"usage"`
	}
	if json.Unmarshal(data, &e) == nil && e.Usage != nil && !m.x.units {
		m.usage, m.haveUsage = e.Usage.usage(), true
	}
}

// speechUsage: text to speech is priced per input character; the answer
// is audio with no usage, so the request's characters are the usage.
var speechUsage = &usageShape{
	// A token-priced voice model is charged the characters as input
	// tokens: a bound from above.
	// The audio of a token-priced voice model is billed as output
	// tokens that no response reports: charged at the output bound.
	request: func(x *exchange) Usage {
		u := Usage{InputTokens: x.facts.InputChars}
		if !x.units {
			u.OutputTokens = x.outputBound()
		}
		return u
	},
}

// googleStatus is the canonical status name Google APIs pair with an
// HTTP status.
func googleStatus(status int) string {
	switch status {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 503, 502:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

func hasWildcard(p string) bool { return strings.IndexByte(p, '{') >= 0 }

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
