package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/provider"
)

// fakeProvider is a local server answering as a provider documents its
// API. It checks every request carries the held key and never an aicred
// token, and counts the calls.
type fakeProvider struct {
	t    testing.TB
	name string
	key  string // the held key it must receive
	srv  *httptest.Server

	mu    sync.Mutex
	calls int
}

func newFakeProvider(t testing.TB, name, key string, answer func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeProvider {
	f := &fakeProvider{t: t, name: name, key: key}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var hdr bytes.Buffer
		_ = r.Header.Write(&hdr)
		got := r.Header.Get("Authorization")
		if name == "anthropic" {
			got = r.Header.Get("X-Api-Key")
		}
		if got != key && got != "Bearer "+key {
			t.Errorf("%s upstream: the held key was not injected", name)
		}
		for _, p := range []string{provider.TokenPrefixWorkload, provider.TokenPrefixAdmin} {
			if bytes.Contains(hdr.Bytes(), []byte(p)) || bytes.Contains(body, []byte(p)) {
				t.Errorf("%s upstream: received an aicred token", name)
			}
		}
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
		answer(w, r, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// writeSSE writes events, flushing each as a provider does.
func writeSSE(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		_, _ = io.WriteString(w, e)
		w.(http.Flusher).Flush()
	}
}

// Usage the fake providers report, and so what must be metered.
var (
	oaiJSONUsage    = aicred.Usage{InputTokens: 1000, CachedTokens: 200, OutputTokens: 300}
	oaiStreamUsage  = aicred.Usage{InputTokens: 1000, OutputTokens: 50}
	antJSONUsage    = aicred.Usage{InputTokens: 2000, CacheWriteTokens: 100, CachedTokens: 400, OutputTokens: 500}
	antStreamUsage  = aicred.Usage{InputTokens: 3000, CachedTokens: 1000, OutputTokens: 90}
	oaiModel        = "gpt-4o-mini"
	antModel        = "claude-haiku-4-5"
	maxBodyForTests = 64 << 10
)

// openAIChat answers POST /v1/chat/completions: JSON, or SSE with the
// usage chunk when stream_options.include_usage is set.
func openAIChat(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Stream        bool `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &req)
	w.Header().Set("X-Request-Id", "req_e2e_oai")
	w.Header().Set("Openai-Organization", "org-heldaccount")
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-e2e","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			oaiJSONUsage.InputTokens+oaiJSONUsage.CachedTokens, oaiJSONUsage.OutputTokens,
			oaiJSONUsage.Total(), oaiJSONUsage.CachedTokens)
		return
	}
	chunk := func(delta, finish string) string {
		return `data: {"id":"chatcmpl-e2e2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":` +
			delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}` + "\n\n"
	}
	ev := []string{chunk(`{"role":"assistant","content":""}`, "null"), chunk(`{"content":"Hel"}`, "null"),
		chunk(`{"content":"lo"}`, "null"), chunk(`{}`, `"stop"`)}
	if req.StreamOptions.IncludeUsage {
		ev = append(ev, fmt.Sprintf(`data: {"id":"chatcmpl-e2e2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
			oaiStreamUsage.InputTokens, oaiStreamUsage.OutputTokens, oaiStreamUsage.Total()))
	}
	writeSSE(w, append(ev, "data: [DONE]\n\n")...)
}

// anthropicMessages answers POST /v1/messages: JSON, or SSE from
// message_start (input and cache counts) to message_delta (cumulative
// output).
func anthropicMessages(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.URL.Path != "/v1/messages" || r.Header.Get("Anthropic-Version") == "" {
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad route or no anthropic-version"}}`, http.StatusBadRequest)
		return
	}
	var req struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(body, &req)
	w.Header().Set("Request-Id", "req_e2e_ant")
	if !req.Stream {
		u := antJSONUsage
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_e2e","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",
"content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,
"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d}}`,
			u.InputTokens, u.CacheWriteTokens, u.CachedTokens, u.OutputTokens)
		return
	}
	u := antStreamUsage
	writeSSE(w,
		fmt.Sprintf("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_e2e2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5-20251001\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":%d,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":%d,\"output_tokens\":1}}}\n\n", u.InputTokens, u.CachedTokens),
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		fmt.Sprintf("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n", u.OutputTokens),
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	)
}

// clientSaw records every header and body byte an SDK received.
type clientSaw struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type sawBody struct {
	io.ReadCloser
	s *clientSaw
}

func (b sawBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.s.mu.Lock()
	b.s.buf.Write(p[:n])
	b.s.mu.Unlock()
	return n, err
}

func (s *clientSaw) middleware(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	resp, err := next(req)
	if resp != nil {
		s.mu.Lock()
		_ = resp.Header.Write(&s.buf)
		s.mu.Unlock()
		resp.Body = sawBody{resp.Body, s}
	}
	return resp, err
}

func (s *clientSaw) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// secretForms are a held key and a tail of it: neither may reach a client
// or a log.
func secretForms(keys ...string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k, k[len(k)-12:])
	}
	return out
}

// e2eServe is `aicred serve` running in this process with a gateway in
// front of local providers, and a workload token it issued.
type e2eServe struct {
	base     string
	tok      string
	held     []string // the held keys and their tails
	oai, ant *fakeProvider
	stop     func() result
	cfg      string // the configuration serve runs with
	store    string // its store
	issuer   *issuer
}

// startServe holds generated keys with `aicred credential add`, starts
// serve with the gateway section gatewayYAML returns for the OpenAI and
// Anthropic fakes' URLs (indented under gateway:), and gets a token from
// /oauth/token for a workload JWT.
func startServe(t testing.TB, seed uint64, gatewayYAML func(openaiURL, anthropicURL string) string) *e2eServe {
	t.Helper()
	return startServeWith(t, seed, serveOpts{gatewayYAML: gatewayYAML})
}

// serveOpts vary the serve startServeWith starts: the providers' answers
// (default: openAIChat and anthropicMessages) and the role (default: the
// sdk-e2e role for gpt-4o-mini* and claude-haiku-4-5* chat).
type serveOpts struct {
	gatewayYAML             func(openaiURL, anthropicURL string) string
	openaiAns, anthropicAns func(w http.ResponseWriter, r *http.Request, body []byte)
	roleYAML                string // the role named sdk-e2e, indented under roles:
}

const defaultRoleYAML = `  - name: sdk-e2e
    providers: [openai, anthropic]
    credentials: [hc_e2e_openai, hc_e2e_anthropic]
    models: ["gpt-4o-mini*", "claude-haiku-4-5*"]
    operations: [chat]
    ttl: 10m
    budget: {per_token_usd: 1000, per_workload_daily_usd: 10000}
`

func startServeWith(t testing.TB, seed uint64, o serveOpts) *e2eServe {
	t.Helper()
	if o.openaiAns == nil {
		o.openaiAns = openAIChat
	}
	if o.anthropicAns == nil {
		o.anthropicAns = anthropicMessages
	}
	if o.roleYAML == "" {
		o.roleYAML = defaultRoleYAML
	}
	gatewayYAML := o.gatewayYAML
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	store := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", store)

	g := provider.NewGen(seed)
	oaiKey := "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)
	antKey := "sk-ant-api03-" + g.URL64(93) + "AA"
	e := &e2eServe{held: secretForms(oaiKey, antKey), store: store}
	e.oai = newFakeProvider(t, "openai", oaiKey, o.openaiAns)
	e.ant = newFakeProvider(t, "anthropic", antKey, o.anthropicAns)

	for _, c := range []struct{ prov, kind, id, key string }{
		{"openai", "project-key", "hc_e2e_openai", oaiKey},
		{"anthropic", "api-key", "hc_e2e_anthropic", antKey},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"credential", "add", "--provider", c.prov, "--kind", c.kind, "--id", c.id},
			strings.NewReader(c.key+"\n"), &out, &errb)
		if code != exitOK {
			t.Fatalf("credential add %s: %d %s", c.prov, code, errb.String())
		}
		for _, f := range e.held {
			if strings.Contains(out.String()+errb.String(), f) {
				t.Fatalf("credential add printed (part of) the held key")
			}
		}
	}

	is := newIssuer(t, dir)
	e.issuer = is
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "aicred.yaml")
	e.cfg = cfgPath
	writeConfig(t, cfgPath, fmt.Sprintf(`listen: %s
store: %q
log:
  format: json
gateway:
%s
issuers:
  - name: ci
    type: oidc
    issuer: %s
    audiences: [aicred]
    jwks_file: %s
roles:
%s
policies:
  - name: sdk-e2e
    issuer: ci
    role: sdk-e2e
    claims:
      sub: repo:acme/agent:ref:refs/heads/main
`, addr, store, gatewayYAML(e.oai.srv.URL, e.ant.srv.URL), is.url, is.jwksFile, strings.TrimRight(o.roleYAML, "\n")))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		// The server writes from several goroutines (log lines, the
		// listening notice), as it may to a real stderr.
		var out, errb lockedBuffer
		code := run(ctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	var once sync.Once
	var res result
	e.stop = func() result {
		once.Do(func() { cancel(); res = <-done })
		return res
	}
	t.Cleanup(func() { e.stop() })
	e.base = "http://" + addr
	waitServing(t, e.base, done)

	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {is.workloadJWT(t, "repo:acme/agent:ref:refs/heads/main")},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
	code, body := httpDo(t, "POST", e.base+"/oauth/token", "", strings.NewReader(form.Encode()))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tr); code != http.StatusOK || err != nil || !provider.ValidToken(tr.AccessToken) {
		t.Fatalf("token exchange: %d", code)
	}
	e.tok = tr.AccessToken
	return e
}

// TestServeGatewaySDKs runs `aicred serve` with its gateway pointed at
// local OpenAI and Anthropic servers, gets a token from /oauth/token with
// a workload JWT, holds generated keys with `aicred credential add`, and
// drives the official Go SDKs through serve itself.
func TestServeGatewaySDKs(t *testing.T) {
	e := startServe(t, 5, func(oaiURL, antURL string) string {
		return fmt.Sprintf("  upstreams:\n    openai: %s\n    anthropic: %s\n  max_body_bytes: %d\n  upstream_timeout: 20s",
			oaiURL, antURL, maxBodyForTests)
	})
	base, tok, held, oai, ant := e.base, e.tok, e.held, e.oai, e.ant

	saw := &clientSaw{}
	oc := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(tok),
		option.WithMaxRetries(0), option.WithMiddleware(saw.middleware))
	ac := anthropic.NewClient(aopt.WithBaseURL(base), aopt.WithAPIKey(tok),
		aopt.WithMaxRetries(0), aopt.WithMiddleware(saw.middleware))
	bg := context.Background()
	hi := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	antHi := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}

	t.Run("openai chat", func(t *testing.T) {
		resp, err := oc.Chat.Completions.New(bg, openai.ChatCompletionNewParams{Model: oaiModel, Messages: hi})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "Hello!" || resp.Usage.PromptTokens != oaiJSONUsage.InputTokens+oaiJSONUsage.CachedTokens {
			t.Fatalf("response: %+v", resp)
		}
	})
	t.Run("openai stream", func(t *testing.T) {
		st := oc.Chat.Completions.NewStreaming(bg, openai.ChatCompletionNewParams{Model: oaiModel, Messages: hi})
		var text string
		for st.Next() {
			if ch := st.Current(); len(ch.Choices) > 0 {
				text += ch.Choices[0].Delta.Content
			}
		}
		if err := st.Err(); err != nil || text != "Hello" {
			t.Fatalf("stream: %q %v", text, err)
		}
	})
	t.Run("anthropic messages", func(t *testing.T) {
		msg, err := ac.Messages.New(bg, anthropic.MessageNewParams{Model: anthropic.Model(antModel), MaxTokens: 1024, Messages: antHi})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Content[0].Text != "Hello!" || msg.Usage.InputTokens != antJSONUsage.InputTokens {
			t.Fatalf("message: %+v", msg)
		}
	})
	t.Run("anthropic stream", func(t *testing.T) {
		st := ac.Messages.NewStreaming(bg, anthropic.MessageNewParams{Model: anthropic.Model(antModel), MaxTokens: 1024, Messages: antHi})
		var m anthropic.Message
		for st.Next() {
			if err := m.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil || m.Content[0].Text != "Hello" || m.Usage.OutputTokens != antStreamUsage.OutputTokens {
			t.Fatalf("stream: %+v %v", m, err)
		}
	})
	if oai.callCount() != 2 || ant.callCount() != 2 {
		t.Fatalf("upstream calls: openai %d anthropic %d, want 2 each", oai.callCount(), ant.callCount())
	}

	t.Run("refused model", func(t *testing.T) {
		_, err := oc.Chat.Completions.New(bg, openai.ChatCompletionNewParams{Model: "gpt-4-turbo", Messages: hi})
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != http.StatusForbidden || oe.Type != "permission_error" {
			t.Fatalf("openai: want a 403 permission_error, got %v", err)
		}
		_, err = ac.Messages.New(bg, anthropic.MessageNewParams{Model: "claude-opus-4-1", MaxTokens: 16, Messages: antHi})
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ae.Type() != "permission_error" {
			t.Fatalf("anthropic: want a 403 permission_error, got %v", err)
		}
	})
	t.Run("body over max_body_bytes", func(t *testing.T) {
		big := []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("a", maxBodyForTests))}
		_, err := oc.Chat.Completions.New(bg, openai.ChatCompletionNewParams{Model: oaiModel, Messages: big})
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("want 413, got %v", err)
		}
	})
	if oai.callCount() != 2 || ant.callCount() != 2 {
		t.Fatalf("a refused request reached the provider: openai %d anthropic %d calls", oai.callCount(), ant.callCount())
	}
	assertNoLeak(t, "client", held, saw.String())
	if s := saw.String(); strings.Contains(s, "org-heldaccount") {
		t.Error("client saw the held account's organization header")
	}

	// Aicred's own routes still win over the gateway's catch-all.
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := httpDo(t, "GET", base+p, "", nil); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code, body := httpDo(t, "GET", base+"/aicred/v1/whoami", tok, nil); code != http.StatusOK || !strings.Contains(body, "sdk-e2e") {
		t.Errorf("whoami: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/admin/v1/tokens", tok, nil); code != http.StatusUnauthorized {
		t.Errorf("a workload token on the admin API: %d", code)
	}
	// Prefixes serve does not list reach the gateway through its
	// catch-all: without a token, the gateway's own 401.
	for _, p := range []string{"/groq/v1/chat/completions", "/mistral/v1/chat/completions", "/openai/v1/chat/completions"} {
		code, body := httpDo(t, "POST", base+p, "", strings.NewReader(`{"model":"x"}`))
		if code != http.StatusUnauthorized || !strings.Contains(body, "missing_api_key") {
			t.Errorf("POST %s: %d %s", p, code, body)
		}
	}

	// Metrics: every request, its cost at the shipped prices, the refusals.
	prices := gateway.DefaultPrices()
	cost := func(prov, model string, u ...aicred.Usage) float64 {
		p, ok := prices.Lookup(prov, model)
		if !ok {
			t.Fatalf("no shipped price for %s/%s", prov, model)
		}
		var c float64
		for _, x := range u {
			c += p.Cost(x)
		}
		return c
	}
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"aicred_gateway_requests_total", map[string]string{"provider": "openai", "operation": "chat", "outcome": "ok"}, 2},
		{"aicred_gateway_requests_total", map[string]string{"provider": "anthropic", "operation": "chat", "outcome": "ok"}, 2},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": oaiModel}, cost("openai", oaiModel, oaiJSONUsage, oaiStreamUsage)},
		{"aicred_gateway_cost_usd_total", map[string]string{"provider": "anthropic", "model": antModel}, cost("anthropic", antModel, antJSONUsage, antStreamUsage)},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "anthropic", "type": "cached"}, float64(antJSONUsage.CachedTokens + antStreamUsage.CachedTokens)},
		{"aicred_gateway_tokens_total", map[string]string{"provider": "openai", "type": "output"}, float64(oaiJSONUsage.OutputTokens + oaiStreamUsage.OutputTokens)},
		{"aicred_gateway_refusals_total", map[string]string{"provider": "openai", "code": "forbidden", "status": "403"}, 1},
		{"aicred_gateway_refusals_total", map[string]string{"provider": "anthropic", "code": "forbidden", "status": "403"}, 1},
		{"aicred_gateway_refusals_total", map[string]string{"provider": "openai", "code": "request_too_large", "status": "413"}, 1},
		{"aicred_gateway_upstream_latency_seconds", map[string]string{"provider": "openai"}, 2},
		{"aicred_gateway_usage_records_written_total", map[string]string{}, 4},
		{"aicred_gateway_usage_records_lost_total", map[string]string{}, 0},
		{"aicred_gateway_anomaly_alerts_dropped_total", map[string]string{}, 0},
	}
	// A record is written as the response ends, which may be just after
	// the SDK returned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams := scrape(t, base)
		var missing []string
		for _, w := range want {
			if got, ok := metricValue(fams, w.name, w.labels); !ok || math.Abs(got-w.value) > 1e-12 {
				missing = append(missing, fmt.Sprintf("%s%v = %v, want %v", w.name, w.labels, got, w.value))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", strings.Join(missing, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	res := e.stop()
	if res.code != exitOK {
		t.Errorf("serve exit %d", res.code)
	}
	assertNoLeak(t, "server log", append(held, tok), res.stderr)

	// Every forwarded request is in the store once serve has shut down,
	// at the cost the metrics showed.
	r := runCLI(t, "", "usage", "--by", "provider", "-f", "json")
	var got struct {
		Groups []aicred.UsageSummary `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != exitOK || err != nil {
		t.Fatalf("aicred usage: %d %s %v", r.code, r.stderr, err)
	}
	for _, w := range []struct {
		prov string
		cost float64
	}{{"openai", cost("openai", oaiModel, oaiJSONUsage, oaiStreamUsage)}, {"anthropic", cost("anthropic", antModel, antJSONUsage, antStreamUsage)}} {
		i := slices.IndexFunc(got.Groups, func(g aicred.UsageSummary) bool { return g.Provider == w.prov })
		if i < 0 || got.Groups[i].Requests != 2 || math.Abs(got.Groups[i].CostUSD-w.cost) > 1e-12 {
			t.Errorf("stored usage for %s: %+v, want 2 requests costing %v", w.prov, got.Groups, w.cost)
		}
	}
}

// TestServeGatewayOffAndUnpriced: a provider turned off is not served
// and never called; a model with no price is charged the configured
// fallback rate and counted under "other".
func TestServeGatewayOffAndUnpriced(t *testing.T) {
	e := startServe(t, 6, func(oaiURL, _ string) string {
		return "  upstreams:\n    openai: " + oaiURL + "\n    anthropic: off\n  unpriced: {input: 10, output: 20}"
	})
	bg := context.Background()
	ac := anthropic.NewClient(aopt.WithBaseURL(e.base), aopt.WithAPIKey(e.tok), aopt.WithMaxRetries(0))
	_, err := ac.Messages.New(bg, anthropic.MessageNewParams{Model: anthropic.Model(antModel), MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("anthropic turned off: want 404, got %v", err)
	}
	if e.ant.callCount() != 0 {
		t.Fatal("a provider turned off was called")
	}

	// The role allows gpt-4o-mini*, the price table does not know this one.
	const unpriced = "gpt-4o-mini-acme-ft"
	oc := openai.NewClient(option.WithBaseURL(e.base+"/openai/v1/"), option.WithAPIKey(e.tok), option.WithMaxRetries(0))
	if _, err := oc.Chat.Completions.New(bg, openai.ChatCompletionNewParams{Model: unpriced,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	want := gateway.Price{Input: 10, Output: 20}.Cost(oaiJSONUsage)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, ok := metricValue(scrape(t, e.base), "aicred_gateway_cost_usd_total", map[string]string{"provider": "openai", "model": "other"})
		if ok && math.Abs(got-want) < 1e-12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cost of the unpriced model: %v (present %v), want %v", got, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeConfig(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkServeGateway measures a non-streamed chat completion through
// all of `aicred serve` (mux, access log, token check, scope, price,
// leased budget, key injection, proxy, metering, store recorder, metrics,
// detector) against the same request sent to the local provider directly.
func BenchmarkServeGateway(b *testing.B) {
	e := startServe(b, 7, func(oaiURL, antURL string) string {
		return "  upstreams:\n    openai: " + oaiURL + "\n    anthropic: " + antURL
	})
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(b *testing.B, u, auth string) {
		req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			post(b, e.oai.srv.URL+"/v1/chat/completions", e.oai.key)
		}
	})
	b.Run("serve", func(b *testing.B) {
		for b.Loop() {
			post(b, e.base+"/v1/chat/completions", e.tok)
		}
	})
}

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitServing waits for /readyz, failing fast if serve exited.
func waitServing(t testing.TB, base string, done <-chan result) {
	t.Helper()
	select {
	case res := <-done:
		t.Fatalf("serve exited %d: %s", res.code, res.stderr)
	case <-time.After(100 * time.Millisecond):
	}
	waitHealthy(t, base)
}

func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metricValue is a counter's value or a histogram's count.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount()), true
		}
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}
