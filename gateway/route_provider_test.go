package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred/provider"
)

// seenRequest is what a provider's local upstream received.
type seenRequest struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         []byte
}

// providerUpstream is a local server standing in for one provider: it
// records every request, fails the test if an aicred token reaches it,
// and answers with h.
type providerUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
	h    http.HandlerFunc
}

func newProviderUpstream(t *testing.T, h http.HandlerFunc) *providerUpstream {
	u := &providerUpstream{h: h}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(headerText(r.Header)+r.URL.RawQuery+string(body), provider.TokenPrefixWorkload) {
			t.Errorf("upstream %s: received an aicred token", r.URL.Path)
		}
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), body})
		h := u.h
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *providerUpstream) last(t *testing.T) seenRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("upstream not called")
	}
	return u.seen[len(u.seen)-1]
}

func (u *providerUpstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// The OpenAI-compatible providers: each under its own prefix, forwarded
// to its documented path with its held key as a Bearer, metered from
// OpenAI-shaped usage.
func TestOpenAICompatibleProviders(t *testing.T) {
	g := nil2gen(50)
	cases := []struct{ prefix, provider, upstream string }{
		{"/groq", "groq", "/openai/v1/chat/completions"},
		{"/mistral", "mistral", "/v1/chat/completions"},
		{"/together", "together", "/v1/chat/completions"},
		{"/deepseek", "deepseek", "/chat/completions"},
		{"/openrouter", "openrouter", "/api/v1/chat/completions"},
		{"/xai", "xai", "/v1/chat/completions"},
		{"/perplexity", "perplexity", "/v1/chat/completions"},
		{"/fireworks", "fireworks", "/inference/v1/chat/completions"},
		{"/nvidia", "nvidia", "/v1/chat/completions"},
		{"/cerebras", "cerebras", "/v1/chat/completions"},
		{"/huggingface", "huggingface", "/v1/chat/completions"},
	}
	ups := map[string]*providerUpstream{}
	for _, c := range cases {
		if _, ok := DefaultUpstreams()[c.provider]; !ok {
			t.Errorf("%s has no default upstream", c.provider)
		}
		ups[c.provider] = newProviderUpstream(t, openAIJSON)
	}
	f := newFixture(t, 51, func(c *Config) {
		for p, u := range ups {
			c.Upstreams[p] = u.URL
		}
		c.Unpriced = &Price{Input: 1, Output: 1, Source: "test", AsOf: "2026-11-26"}
	})
	keys := map[string]string{}
	scope := []string{"chat", "model:*"}
	for _, c := range cases {
		keys[c.provider] = "k-" + c.provider + "-" + g.Alnum(40)
		f.addHeld(t, "hc_"+c.provider, c.provider, "api-key", keys[c.provider])
		scope = append(scope, "provider:"+c.provider)
	}
	tok, _ := f.issue(t, g, scope)
	for i, c := range cases {
		st, body := f.post(t, c.prefix+"/v1/chat/completions", tok, `{"model":"some-model","messages":[]}`)
		if st != 200 {
			t.Errorf("%s: %d %s", c.provider, st, body)
			continue
		}
		r := ups[c.provider].last(t)
		if r.path != c.upstream || r.header.Get("Authorization") != "Bearer "+keys[c.provider] {
			t.Errorf("%s: upstream got %s with key %q", c.provider, r.path, redact(r.header.Get("Authorization")))
		}
		rec := f.waitRecords(t, i+1)[i]
		if rec.Provider != c.provider || rec.Usage.OutputTokens != 300 || !near(rec.CostUSD, 1500.0/1e6) {
			t.Errorf("%s: record %+v", c.provider, rec)
		}
	}
	// A token for groq only may not reach mistral; an unconfigured
	// provider answers 404 in OpenAI's shape.
	groqOnly, _ := f.issue(t, g, []string{"chat", "model:*", "provider:groq"})
	if st, body := f.post(t, "/mistral/v1/chat/completions", groqOnly, `{"model":"m"}`); st != 403 {
		t.Errorf("groq token on mistral: %d %s", st, body)
	}
	f2 := newFixture(t, 52, nil)
	st, body := f2.post(t, "/groq/v1/chat/completions", f2.token, `{"model":"m"}`)
	if st != 404 {
		t.Fatalf("unconfigured groq: %d", st)
	}
	openAIShaped(t, body)
}

// Groq takes stream_options, so the usage chunk is asked for and hidden;
// Mistral reports stream usage unasked and is sent the body unchanged.
func TestCompatibleStreamUsage(t *testing.T) {
	groq := newProviderUpstream(t, openAIStream)
	mistral := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n",
			`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`+"\n\n",
			"data: [DONE]\n\n")
	})
	f := newFixture(t, 53, func(c *Config) {
		c.Upstreams["groq"], c.Upstreams["mistral"] = groq.URL, mistral.URL
	})
	f.addHeld(t, "hc_groq", "groq", "api-key", "gsk_"+nil2gen(54).Alnum(52))
	f.addHeld(t, "hc_mistral", "mistral", "api-key", nil2gen(55).Alnum(32))
	tok, _ := f.issue(t, nil2gen(56), []string{"chat", "provider:groq", "provider:mistral", "model:llama-3.3-70b-versatile", "model:mistral-small-latest"})
	st, body := f.post(t, "/groq/v1/chat/completions", tok, `{"model":"llama-3.3-70b-versatile","stream":true}`)
	if st != 200 || strings.Contains(body, `"usage":{`) {
		t.Fatalf("groq: %d %s", st, body)
	}
	if !bytes.Contains(groq.last(t).body, []byte(`"include_usage":true`)) {
		t.Fatal("groq was not asked for usage")
	}
	st, body = f.post(t, "/mistral/v1/chat/completions", tok, `{"model":"mistral-small-latest","stream":true}`)
	if st != 200 || !strings.Contains(body, `"usage":{`) {
		t.Fatalf("mistral: %d %s", st, body)
	}
	if b := mistral.last(t).body; string(b) != `{"model":"mistral-small-latest","stream":true}` {
		t.Fatalf("mistral body changed: %s", b)
	}
	recs := f.waitRecords(t, 2)
	if !near(recs[0].CostUSD, (1000*0.59+50*0.79)/1e6) || !near(recs[1].CostUSD, (7*0.10+3*0.30)/1e6) || recs[0].Estimated || recs[1].Estimated {
		t.Fatalf("records %+v", recs)
	}
}
