package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// post sends body to path with the token as a Bearer and returns status
// and body.
func (f *fixture) post(t *testing.T, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openAIShaped and anthropicShaped check the provider's error shape.
func openAIShaped(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error *struct{ Message, Type, Code string } `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	return e.Error.Message
}

func anthropicShaped(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Type  string
		Error *struct{ Type, Message string }
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Type != "error" || e.Error == nil || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not an Anthropic error: %s", body)
	}
	return e.Error.Message
}

func TestRevokedToken401(t *testing.T) {
	f := newFixture(t, 10, nil)
	f.openai = openAIJSON
	if st, _ := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini","messages":[]}`); st != 200 {
		t.Fatalf("before revocation: %d", st)
	}
	if err := f.tokens.Revoke(context.Background(), &aicred.Revocation{By: aicred.RevokeToken, Value: f.grantID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini","messages":[]}`)
	if st != 401 {
		t.Fatalf("after revocation: %d %s", st, body)
	}
	openAIShaped(t, body)
	// And through the SDK: a typed 401.
	c := f.openaiClient(&seen{}, f.token)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("sdk: %v", err)
	}
	if f.upstreamCalls() != 1 {
		t.Fatalf("upstream calls %d", f.upstreamCalls())
	}
}

func TestModelNotAllowed403(t *testing.T) {
	f := newFixture(t, 11, nil)
	f.openai, f.anthropic = openAIJSON, anthropicJSON
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o","messages":[]}`)
	if st != 403 || !strings.Contains(openAIShaped(t, body), "gpt-4o") {
		t.Fatalf("%d %s", st, body)
	}
	st, body = f.post(t, "/anthropic/v1/messages", f.token, `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}`)
	if st != 403 {
		t.Fatalf("%d %s", st, body)
	}
	anthropicShaped(t, body)
	// The Anthropic SDK sees a typed permission error.
	c := f.anthropicClient(&seen{}, f.token)
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.ModelClaudeSonnet4_5, MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Fatalf("sdk: %v", err)
	}
	// A repeated model key cannot smuggle a second model past the check.
	st, body = f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o","Model":"x","model":"gpt-4o-mini"}`)
	if st != 400 {
		t.Fatalf("duplicate model: %d %s", st, body)
	}
	st, _ = f.post(t, "/v1/chat/completions", f.token, `{"mod\u0065l":"gpt-4o"}`)
	if st != 403 {
		t.Fatalf("escaped key: %d", st)
	}
	if n := f.upstreamCalls(); n != 0 {
		t.Fatalf("upstream called %d times", n)
	}
	if n := len(f.usage.Records()); n != 0 {
		t.Fatalf("%d usage records for refused requests", n)
	}
}

func TestScopeWithoutProviderOrOperation(t *testing.T) {
	f := newFixture(t, 12, nil)
	f.openai = openAIJSON
	tok, _ := f.issue(t, nil2gen(13), []string{"embeddings", "model:*", "provider:openai"})
	if st, body := f.post(t, "/v1/chat/completions", tok, `{"model":"gpt-4o-mini"}`); st != 403 {
		t.Fatalf("operation: %d %s", st, body)
	}
	tok, _ = f.issue(t, nil2gen(14), []string{"chat", "model:*", "provider:anthropic"})
	if st, body := f.post(t, "/openai/v1/chat/completions", tok, `{"model":"gpt-4o-mini"}`); st != 403 {
		t.Fatalf("provider: %d %s", st, body)
	}
	tok, _ = f.issue(t, nil2gen(15), []string{"chat", "provider:openai"})
	if st, body := f.post(t, "/v1/chat/completions", tok, `{"model":"gpt-4o-mini"}`); st != 403 {
		t.Fatalf("empty model list must deny: %d %s", st, body)
	}
	if f.upstreamCalls() != 0 {
		t.Fatal("upstream called")
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, 16, func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	f.openai = openAIJSON
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/v1/chat/completions", `{"model":`, 400},
		{"/v1/chat/completions", `[1,2]`, 400},
		{"/v1/chat/completions", `{"messages":[]}`, 400},
		{"/v1/messages", `{"model":"claude-haiku-4-5",}`, 400},
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","x":"` + strings.Repeat("a", 2<<10) + `"}`, 413},
		{"/v1/nope", `{}`, 404},
		{"/anthropic/v1/nope", `{}`, 404},
		{"/v1/messages/nope", `{}`, 404},
	} {
		st, body := f.post(t, tc.path, f.token, tc.body)
		if st != tc.status {
			t.Errorf("%s %.40s: %d %s", tc.path, tc.body, st, body)
			continue
		}
		if strings.Contains(tc.path, "messages") || strings.HasPrefix(tc.path, "/anthropic") {
			anthropicShaped(t, body)
		} else {
			openAIShaped(t, body)
		}
	}
	if f.upstreamCalls() != 0 {
		t.Fatal("upstream called")
	}
}

func TestUnpricedModel(t *testing.T) {
	f := newFixture(t, 17, nil)
	tok, _ := f.issue(t, nil2gen(18), []string{"chat", "model:*", "provider:openai"})
	st, body := f.post(t, "/v1/chat/completions", tok, `{"model":"gpt-unpriced"}`)
	if st != 403 || !strings.Contains(openAIShaped(t, body), "price") {
		t.Fatalf("%d %s", st, body)
	}
	// Configured: charged at the fallback rate, never $0.
	f2 := newFixture(t, 19, func(c *Config) {
		c.Unpriced = &Price{Input: 100, Output: 100, Source: "test", AsOf: "2026-01-01"}
	})
	f2.openai = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":10}}`)
	}
	tok, _ = f2.issue(t, nil2gen(20), []string{"chat", "model:*", "provider:openai"})
	if st, body := f2.post(t, "/v1/chat/completions", tok, `{"model":"gpt-unpriced"}`); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if r := f2.waitRecords(t, 1)[0]; !near(r.CostUSD, 2000.0/1e6) {
		t.Fatalf("record %+v", r)
	}
	if _, err := New(Config{Tokens: broker.NewMemoryTokenStore(nil), Held: heldMap{}, Opener: nil, Usage: &MemoryRecorder{}}); err == nil {
		t.Fatal("New without an Opener")
	}
}

func TestNoUsageIsEstimatedNotZero(t *testing.T) {
	f := newFixture(t, 21, nil)
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[]}`)
	}
	if st, _ := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini","max_tokens":1000}`); st != 200 {
		t.Fatal(st)
	}
	r := f.waitRecords(t, 1)[0]
	if !r.Estimated || r.Outcome != OutcomeNoUsage || r.CostUSD <= 0 || r.Usage.OutputTokens != 1000 {
		t.Fatalf("record %+v", r)
	}
}

func TestUpstreamDownAndSlow(t *testing.T) {
	f := newFixture(t, 22, func(c *Config) {
		c.Upstreams["openai"] = "http://127.0.0.1:1" // nothing listens
		c.UpstreamTimeout = 200 * time.Millisecond
	})
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini"}`)
	if st != 502 || strings.Contains(body, f.openaiKey[:20]) {
		t.Fatalf("%d %s", st, body)
	}
	openAIShaped(t, body)

	release := make(chan struct{})
	defer close(release)
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	st, body = f.post(t, "/v1/messages", f.token, `{"model":"claude-haiku-4-5","max_tokens":5}`)
	if st != 504 || strings.Contains(body, f.antKey[:20]) {
		t.Fatalf("%d %s", st, body)
	}
	anthropicShaped(t, body)
	recs := f.waitRecords(t, 2)
	if recs[0].Outcome != OutcomeUnreachable || recs[0].CostUSD != 0 || recs[1].Outcome != OutcomeTimeout || !recs[1].Estimated {
		t.Fatalf("records %+v", recs)
	}
}

func TestHeldKeyRejectedIsHidden(t *testing.T) {
	f := newFixture(t, 23, nil)
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+k[:8]+`****`+k[len(k)-4:]+`","type":"invalid_request_error","code":"invalid_api_key"}}`)
	}
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini"}`)
	if st != 502 || strings.Contains(body, f.openaiKey[len(f.openaiKey)-4:]) {
		t.Fatalf("%d %s", st, body)
	}
	openAIShaped(t, body)
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	// With draining off, the upstream request ends with the client.
	f := newFixture(t, 24, func(c *Config) { c.DrainTimeout = -1 })
	cancelled := make(chan struct{})
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		sse(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
		<-r.Context().Done()
		close(cancelled)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/v1/messages",
		strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":100,"stream":true}`))
	req.Header.Set("X-Api-Key", f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request not cancelled")
	}
	r := f.waitRecords(t, 1)[0]
	if r.Outcome != OutcomeClientClosed || r.CostUSD <= 0 {
		t.Fatalf("record %+v", r)
	}
}
