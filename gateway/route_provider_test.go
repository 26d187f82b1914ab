package gateway

import (
	"bytes"
	"encoding/json"
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
		{"/perplexity", "perplexity", "/chat/completions"},
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

// Azure OpenAI: the deployment in the path is the model authorized and
// priced; the key goes in api-key; api-version passes through; the v1
// path takes the model from the body.
func TestAzureOpenAI(t *testing.T) {
	up := newProviderUpstream(t, openAIJSON)
	f := newFixture(t, 60, func(c *Config) {
		c.Upstreams["azure-openai"] = up.URL
		c.Prices, _ = ParsePrices([]byte(`{"models":[{"provider":"azure-openai","model":"prod-4o-mini","input":0.15,"output":0.6,"source":"operator","as_of":"2026-11-26"}]}`))
	})
	key := nil2gen(61).Alnum(84)
	f.addHeld(t, "hc_azure", "azure-openai", "api-key", key)
	tok, _ := f.issue(t, nil2gen(62), []string{"chat", "provider:azure-openai", "model:prod-4o-mini"})
	send := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Api-Key", tok) // the Azure SDK's header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The body names an allowed model, but Azure would run the deployment.
	st, body := send("/azure/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", `{"model":"prod-4o-mini","messages":[]}`)
	if st != 403 {
		t.Fatalf("other deployment: %d %s", st, body)
	}
	openAIShaped(t, body)
	st, body = send("/azure/openai/deployments/prod-4o-mini/chat/completions?api-version=2024-10-21", `{"messages":[]}`)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	r := up.last(t)
	if r.path != "/openai/deployments/prod-4o-mini/chat/completions" || r.query != "api-version=2024-10-21" ||
		r.header.Get("Api-Key") != key || r.header.Get("Authorization") != "" {
		t.Fatalf("upstream got %s?%s", r.path, r.query)
	}
	if st, body := send("/azure/openai/v1/chat/completions", `{"model":"prod-4o-mini","messages":[]}`); st != 200 || up.last(t).path != "/openai/v1/chat/completions" {
		t.Fatalf("v1: %d %s", st, body)
	}
	for _, rec := range f.waitRecords(t, 2) {
		if rec.Provider != "azure-openai" || rec.Model != "prod-4o-mini" || !near(rec.CostUSD, (1000*0.15+200*0.15+300*0.6)/1e6) {
			t.Fatalf("record %+v", rec)
		}
	}
	if up.calls() != 2 {
		t.Fatalf("upstream calls %d", up.calls())
	}
}

func geminiJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}],
"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"cachedContentTokenCount":400,"thoughtsTokenCount":50,"totalTokenCount":1250},"modelVersion":"gemini-2.5-flash"}`)
}

func geminiSSE(w http.ResponseWriter, r *http.Request) {
	sse(w, `data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":1}}`+"\r\n\r\n",
		`data: {"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"thoughtsTokenCount":50}}`+"\r\n\r\n")
}

// Gemini: model from the path, key in x-goog-api-key (a key= query
// parameter is stripped), usageMetadata metered whole, as a JSON array
// and as SSE; countTokens is free; refusals in Google's shape.
func TestGemini(t *testing.T) {
	up := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ":streamGenerateContent") && r.URL.Query().Get("alt") == "sse":
			geminiSSE(w, r)
		case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `[{"candidates":[],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":3}},{"candidates":[],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":250}}]`)
		case strings.HasSuffix(r.URL.Path, ":countTokens"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"totalTokens":31}`)
		default:
			geminiJSON(w, r)
		}
	})
	f := newFixture(t, 63, func(c *Config) { c.Upstreams["google"] = up.URL })
	key := "AIza" + nil2gen(64).Alnum(35)
	f.addHeld(t, "hc_gemini", "google", "gemini-key", key)
	tok, _ := f.issue(t, nil2gen(65), []string{"chat", "provider:google", "model:gemini-2.5-flash"})
	send := func(path string) (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
		req.Header.Set("X-Goog-Api-Key", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// 1000 prompt of which 400 cached (at the cache-read rate), 200 + 50
	// thoughts out.
	flash := (600*0.30 + 400*0.03 + 250*2.50) / 1e6
	for _, tc := range []struct {
		path, upstream, query string
		cost                  float64
	}{
		{"/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=" + tok, "/v1beta/models/gemini-2.5-flash:generateContent", "", flash},
		{"/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", (1000*0.30 + 250*2.50) / 1e6},
		{"/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "", (1000*0.30 + 250*2.50) / 1e6},
		{"/gemini/v1beta/models/gemini-2.5-flash:countTokens", "/v1beta/models/gemini-2.5-flash:countTokens", "", 0},
		{"/gemini/v1/models/gemini-2.5-flash:generateContent", "/v1/models/gemini-2.5-flash:generateContent", "", flash},
	} {
		n := len(f.usage.Records())
		if st, body := send(tc.path); st != 200 {
			t.Fatalf("%s: %d %s", tc.path, st, body)
		}
		r := up.last(t)
		if r.path != tc.upstream || r.query != tc.query || r.header.Get("X-Goog-Api-Key") != key {
			t.Errorf("%s: upstream got %s?%s", tc.path, r.path, r.query)
		}
		rec := f.waitRecords(t, n+1)[n]
		if rec.Model != "gemini-2.5-flash" || rec.Provider != "google" || !near(rec.CostUSD, tc.cost) || rec.Estimated || rec.Outcome != OutcomeOK {
			t.Errorf("%s: record %+v, want cost %g", tc.path, rec, tc.cost)
		}
	}
	calls := up.calls()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/gemini/v1beta/models/gemini-2.5-pro:generateContent", 403},
		{"/gemini/v1beta/models/gemini-2.5-flash:nope", 404},
		{"/gemini/v1beta/models/:generateContent", 404},
		{"/gemini/v1beta/nope", 404},
	} {
		st, body := send(tc.path)
		var e struct {
			Error struct {
				Code    int
				Message string
				Status  string
			}
		}
		if st != tc.status || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != tc.status || e.Error.Status == "" {
			t.Errorf("%s: %d %s", tc.path, st, body)
		}
	}
	if up.calls() != calls {
		t.Fatal("a refused request reached Gemini")
	}
}

func FuzzGeminiUsage(f *testing.F) {
	f.Add([]byte(`{"usageMetadata":{"promptTokenCount":10,"cachedContentTokenCount":4,"candidatesTokenCount":3,"thoughtsTokenCount":2}}`))
	f.Add([]byte(`[{"usageMetadata":{"promptTokenCount":1}},{"candidates":[]}]`))
	f.Add([]byte(`{"usageMetadata":{"promptTokenCount":-5,"cachedContentTokenCount":99}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, ok := parseGeminiUsage(b)
		if !ok {
			return
		}
		if u.InputTokens < 0 || u.CachedTokens < 0 || u.OutputTokens < 0 {
			t.Fatalf("negative usage %+v from %s", u, b)
		}
	})
}
