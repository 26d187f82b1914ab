package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// gemini is the Gemini API (Google AI Studio): the key in x-goog-api-key,
// the model in the path, errors as {"error":{"code","message","status"}}.
// A "key" query parameter is stripped: it would carry the aicred token.
var gemini = &surface{
	provider: "google",
	// Google answers an invalid key with 400 and an ErrorInfo detail
	// whose reason is API_KEY_INVALID. The detail is parsed, not searched
	// for: a client could make a message echo those words.
	rejected: func(status int, _ http.Header, body []byte) bool {
		if status == http.StatusUnauthorized {
			return true
		}
		if status != http.StatusBadRequest {
			return false
		}
		var e struct {
			Error struct {
				Details []struct {
					Reason string `json:"reason"`
					Domain string `json:"domain"`
				} `json:"details"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil {
			return false
		}
		for _, d := range e.Error.Details {
			if d.Reason == "API_KEY_INVALID" && (d.Domain == "" || d.Domain == "googleapis.com") {
				return true
			}
		}
		return false
	},
	inject: func(out *http.Request, key *keyEntry, _ []byte) {
		out.Header.Set("X-Goog-Api-Key", key.key.Reveal())
	},
	writeError: func(w http.ResponseWriter, status int, _, _, msg string) {
		var b bytes.Buffer
		b.WriteString(`{"error":{"code":`)
		b.WriteString(strconv.Itoa(status))
		b.WriteString(`,"message":`)
		b.WriteString(strconv.Quote(msg))
		b.WriteString(`,"status":`)
		b.WriteString(strconv.Quote(googleStatus(status)))
		b.WriteString("}}\n")
		writeJSON(w, status, b.Bytes())
	},
	headers: geminiHeaders,
}

// geminiUsage reads usageMetadata: from a whole response, from the JSON
// array streamGenerateContent returns without alt=sse, or from SSE chunks
// (each carries the counts so far; the last one wins).
var geminiUsage = &usageShape{
	json: func(_ *exchange, body []byte) (Usage, bool) { return parseGeminiUsage(body) },
	event: func(m *meter, ev sseEvent) bool {
		if bytes.Contains(ev.data, []byte(`"usageMetadata"`)) {
			if u, ok := parseGeminiUsage(ev.data); ok {
				m.usage, m.haveUsage = u, true
			}
		}
		return false
	},
}

type geminiUsageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// usage: promptTokenCount includes the cached content; thoughts are
// billed as output; tool-use prompt tokens as input.
func (g *geminiUsageMetadata) usage() Usage {
	prompt := max(g.PromptTokenCount, 0)
	cached := min(max(g.CachedContentTokenCount, 0), prompt)
	return Usage{
		InputTokens:  prompt - cached + max(g.ToolUsePromptTokenCount, 0),
		CachedTokens: cached,
		OutputTokens: max(g.CandidatesTokenCount, 0) + max(g.ThoughtsTokenCount, 0),
	}
}

type geminiChunk struct {
	UsageMetadata *geminiUsageMetadata `json:"usageMetadata"`
}

// parseGeminiUsage reads usageMetadata from one response object or the
// last element of an array of them that carries it.
func parseGeminiUsage(body []byte) (Usage, bool) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) > 0 && body[0] == '[' {
		var chunks []geminiChunk
		if json.Unmarshal(body, &chunks) != nil {
			return Usage{}, false
		}
		for i := len(chunks) - 1; i >= 0; i-- {
			if chunks[i].UsageMetadata != nil {
				return chunks[i].UsageMetadata.usage(), true
			}
		}
		return Usage{}, false
	}
	var c geminiChunk
	if json.Unmarshal(body, &c) != nil || c.UsageMetadata == nil {
		return Usage{}, false
	}
	return c.UsageMetadata.usage(), true
}
