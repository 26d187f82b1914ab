package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// seen collects every byte and header a client received.
type seen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type teeBody struct {
	io.ReadCloser
	s *seen
}

func (b teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.s.mu.Lock()
	b.s.buf.Write(p[:n])
	b.s.mu.Unlock()
	return n, err
}

func (s *seen) middleware(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	resp, err := next(req)
	if resp != nil {
		s.mu.Lock()
		s.buf.WriteString(headerText(resp.Header))
		s.mu.Unlock()
		resp.Body = teeBody{resp.Body, s}
	}
	return resp, err
}

func (s *seen) assertNo(t *testing.T, secrets ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range secrets {
		if strings.Contains(s.buf.String(), k) || strings.Contains(s.buf.String(), k[len(k)-12:]) {
			t.Errorf("client saw (part of) the held key")
		}
	}
}

func openAIJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_oai_1")
	w.Header().Set("Openai-Organization", "org-heldaccount")
	w.Header().Set("Set-Cookie", "__cf_bm=provider-cookie; path=/")
	io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":200,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)
}

func openAIStream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	withUsage := bytes.Contains(body, []byte(`"include_usage":true`))
	w.Header().Set("X-Request-Id", "req_oai_2")
	chunk := func(delta, finish string) string {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		return `data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + fr + `}],"usage":null}` + "\n\n"
	}
	ev := []string{
		chunk(`{"role":"assistant","content":"","refusal":null}`, ""),
		chunk(`{"content":"Hel"}`, ""),
		chunk(`{"content":"lo"}`, ""),
		chunk(`{}`, "stop"),
	}
	if withUsage {
		ev = append(ev, `data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`+"\n\n")
	}
	sse(w, append(ev, "data: [DONE]\n\n")...)
}

func anthropicJSON(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Anthropic-Version") == "" {
		http.Error(w, "no anthropic-version", 400)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_ant_1")
	io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",
"content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,
"usage":{"input_tokens":2000,"cache_creation_input_tokens":100,"cache_read_input_tokens":400,"cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"output_tokens":500,"service_tier":"standard"}}`)
}

func anthropicStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", "req_ant_2")
	sse(w,
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5-20251001\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3000,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: ping\ndata: {\"type\": \"ping\"}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		// Two deltas, as with server tools: cumulative, so the last wins.
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null,\"stop_sequence\":null},\"usage\":{\"output_tokens\":40}}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":90}}\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func (f *fixture) openaiClient(s *seen, token string) openai.Client {
	return openai.NewClient(option.WithBaseURL(f.srv.URL+"/v1/"), option.WithAPIKey(token),
		option.WithMaxRetries(0), option.WithMiddleware(s.middleware))
}

func (f *fixture) anthropicClient(s *seen, token string) anthropic.Client {
	return anthropic.NewClient(aopt.WithBaseURL(f.srv.URL), aopt.WithAPIKey(token),
		aopt.WithMaxRetries(0), aopt.WithMiddleware(s.middleware))
}

func TestOpenAIChatSDK(t *testing.T) {
	f := newFixture(t, 1, nil)
	f.openai = openAIJSON
	s := &seen{}
	c := f.openaiClient(s, f.token)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello!" || resp.Usage.PromptTokens != 1200 {
		t.Fatalf("response: %+v", resp)
	}
	s.assertNo(t, f.openaiKey, f.antKey)
	if b := s.buf.String(); strings.Contains(b, "org-heldaccount") || strings.Contains(b, "provider-cookie") {
		t.Fatal("client saw the held account's organization or the provider's cookie")
	}
	r := f.waitRecords(t, 1)[0]
	want := Usage{InputTokens: 1000, CachedTokens: 200, OutputTokens: 300}
	if r.Usage != want || r.Outcome != OutcomeOK || r.Status != 200 || r.Model != "gpt-4o-mini" ||
		r.TokenID != f.grantID || r.Workload != "https://issuer.test workload-a" || r.Role != "chat-role" ||
		r.UpstreamRequestID != "req_oai_1" || r.Provider != "openai" || r.Estimated || r.Latency <= 0 {
		t.Fatalf("record: %+v", r)
	}
	if cost := (1000*0.15 + 200*0.075 + 300*0.60) / 1e6; !near(r.CostUSD, cost) {
		t.Fatalf("cost %v, want %v", r.CostUSD, cost)
	}
}

func TestOpenAIStreamSDK(t *testing.T) {
	for _, clientAsked := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_usage=%v", clientAsked), func(t *testing.T) {
			f := newFixture(t, 2, nil)
			f.openai = openAIStream
			s := &seen{}
			c := f.openaiClient(s, f.token)
			p := openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			}
			if clientAsked {
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			st := c.Chat.Completions.NewStreaming(context.Background(), p)
			var text string
			var chunks, usageChunks int
			for st.Next() {
				ch := st.Current()
				chunks++
				if len(ch.Choices) > 0 {
					text += ch.Choices[0].Delta.Content
				}
				if ch.Usage.TotalTokens > 0 {
					usageChunks++
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if text != "Hello" {
				t.Fatalf("text %q", text)
			}
			wantChunks, wantUsage := 4, 0
			if clientAsked {
				wantChunks, wantUsage = 5, 1
			}
			if chunks != wantChunks || usageChunks != wantUsage {
				t.Fatalf("chunks %d usage chunks %d, want %d %d", chunks, usageChunks, wantChunks, wantUsage)
			}
			if !bytes.Contains(f.lastBody, []byte(`"include_usage":true`)) {
				t.Fatalf("upstream body lacks include_usage: %s", f.lastBody)
			}
			s.assertNo(t, f.openaiKey, f.antKey)
			r := f.waitRecords(t, 1)[0]
			if r.Usage != (Usage{InputTokens: 1000, OutputTokens: 50}) || r.Outcome != OutcomeOK || !r.Stream || r.Estimated ||
				r.UpstreamRequestID != "req_oai_2" {
				t.Fatalf("record: %+v", r)
			}
			if cost := (1000*0.15 + 50*0.60) / 1e6; !near(r.CostUSD, cost) {
				t.Fatalf("cost %v want %v", r.CostUSD, cost)
			}
		})
	}
}

func TestAnthropicMessagesSDK(t *testing.T) {
	f := newFixture(t, 3, nil)
	f.anthropic = anthropicJSON
	s := &seen{}
	c := f.anthropicClient(s, f.token)
	msg, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: anthropic.ModelClaudeHaiku4_5, MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Hello!" || msg.Usage.InputTokens != 2000 {
		t.Fatalf("message: %+v", msg)
	}
	s.assertNo(t, f.openaiKey, f.antKey)
	r := f.waitRecords(t, 1)[0]
	want := Usage{InputTokens: 2000, CacheWriteTokens: 100, CacheWrite1hTokens: 40, CachedTokens: 400, OutputTokens: 500}
	if r.Usage != want || r.Outcome != OutcomeOK || r.UpstreamRequestID != "req_ant_1" || r.Provider != "anthropic" {
		t.Fatalf("record: %+v", r)
	}
	if cost := (2000*1.0 + 60*1.25 + 40*2.0 + 400*0.10 + 500*5.0) / 1e6; !near(r.CostUSD, cost) {
		t.Fatalf("cost %v want %v", r.CostUSD, cost)
	}
}

func TestAnthropicStreamSDK(t *testing.T) {
	f := newFixture(t, 4, nil)
	f.anthropic = anthropicStream
	s := &seen{}
	c := f.anthropicClient(s, f.token)
	st := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: anthropic.ModelClaudeHaiku4_5, MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var m anthropic.Message
	for st.Next() {
		if err := m.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if m.Content[0].Text != "Hello" || m.Usage.OutputTokens != 90 {
		t.Fatalf("message: %+v", m)
	}
	s.assertNo(t, f.openaiKey, f.antKey)
	r := f.waitRecords(t, 1)[0]
	if r.Usage != (Usage{InputTokens: 3000, CachedTokens: 1000, OutputTokens: 90}) || r.Outcome != OutcomeOK || !r.Stream {
		t.Fatalf("record: %+v", r)
	}
	// The SDK's own accumulation and the meter agree.
	if m.Usage.InputTokens != r.Usage.InputTokens || m.Usage.OutputTokens != r.Usage.OutputTokens {
		t.Fatalf("sdk usage %+v vs record %+v", m.Usage, r.Usage)
	}
}
