package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The /openai/v1 prefix serves the same API; a client that sent
// include_usage:false explicitly still gets no usage chunk, and the
// gateway still meters.
func TestOpenAIPrefixAndExplicitFalse(t *testing.T) {
	f := newFixture(t, 30, nil)
	f.openai = openAIStream
	s := &seen{}
	c := openai.NewClient(option.WithBaseURL(f.srv.URL+"/openai/v1/"), option.WithAPIKey(f.token),
		option.WithMaxRetries(0), option.WithMiddleware(s.middleware))
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(false)},
	})
	n := 0
	for st.Next() {
		if st.Current().Usage.TotalTokens != 0 {
			t.Fatal("client saw the usage chunk it did not ask for")
		}
		n++
	}
	if st.Err() != nil || n != 4 {
		t.Fatalf("%v, %d chunks", st.Err(), n)
	}
	if !bytes.Contains(f.lastBody, []byte(`"stream_options":{"include_usage":true}`)) {
		t.Fatalf("upstream body: %s", f.lastBody)
	}
	if r := f.waitRecords(t, 1)[0]; r.Usage.OutputTokens != 50 || r.Outcome != OutcomeOK {
		t.Fatalf("record %+v", r)
	}
	s.assertNo(t, f.openaiKey, f.antKey)
}

func TestTokenHeaders(t *testing.T) {
	f := newFixture(t, 31, nil)
	f.anthropic = anthropicJSON
	other, _ := f.issue(t, nil2gen(32), []string{"chat", "model:*", "provider:anthropic"})
	send := func(h map[string]string) int {
		req, _ := http.NewRequest("POST", f.srv.URL+"/anthropic/v1/messages", strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":5}`))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		h    map[string]string
		want int
	}{
		{map[string]string{"X-Api-Key": f.token}, 200},
		{map[string]string{"Authorization": "Bearer " + f.token}, 200},
		{map[string]string{"Authorization": "Bearer " + f.token, "X-Api-Key": f.token}, 200},
		{map[string]string{"Authorization": "Bearer " + f.token, "X-Api-Key": other}, 401},
		{map[string]string{"Authorization": "Basic " + f.token}, 401},
		{map[string]string{"Authorization": "bearer " + f.token}, 200},
		{map[string]string{}, 401},
		{map[string]string{"X-Api-Key": f.antKey}, 401}, // a provider key is not an aicred token
	} {
		if got := send(tc.h); got != tc.want {
			t.Errorf("%v: %d, want %d", keys(tc.h), got, tc.want)
		}
	}
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// An upstream error passes through as the provider wrote it and is
// recorded at $0 (providers do not bill errors).
func TestUpstreamErrorPassesThrough(t *testing.T) {
	f := newFixture(t, 33, nil)
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		w.Write([]byte(`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
	}
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini"}`)
	if st != 429 || !strings.Contains(body, "rate_limit_exceeded") {
		t.Fatalf("%d %s", st, body)
	}
	if r := f.waitRecords(t, 1)[0]; r.Outcome != OutcomeUpstreamError || r.Status != 429 || r.CostUSD != 0 {
		t.Fatalf("record %+v", r)
	}
}

func TestPriceTable(t *testing.T) {
	p := DefaultPrices()
	for _, m := range []string{"gpt-4o-mini", "gpt-4o-mini-2024-07-18"} {
		if _, ok := p.Lookup("openai", m); !ok {
			t.Errorf("openai %s unpriced", m)
		}
	}
	if _, ok := p.Lookup("anthropic", "claude-haiku-4-5-20251001"); !ok {
		t.Error("dated claude id unpriced")
	}
	for _, m := range []string{"gpt-4o-mini-x", "gpt-4o-mini-2099-01-01", "2024-07-18"} {
		if _, ok := p.Lookup("openai", m); ok {
			t.Errorf("%s priced", m)
		}
	}
	if _, err := ParsePrices([]byte(`{"models":[{"provider":"a","model":"b","input":0,"output":1,"source":"s","as_of":"d"}]}`)); err == nil {
		t.Error("a zero price was accepted")
	}
}

// A configured table corrects and extends the shipped one.
func TestPriceTableOver(t *testing.T) {
	over, err := ParsePrices([]byte(`{"models":[
		{"provider":"openai","model":"gpt-4o","input":2,"output":8,"source":"contract","as_of":"2026-11-01"},
		{"provider":"mistral","model":"in-house-7b","input":0.1,"output":0.1,"source":"internal","as_of":"2026-11-01"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	base := DefaultPrices()
	merged := base.Over(over)
	if p, _ := merged.Lookup("openai", "gpt-4o"); p.Input != 2 || p.Source != "contract" {
		t.Errorf("override not applied: %+v", p)
	}
	// A dated snapshot keeps its own price: an override of the undated id
	// does not reach it.
	if p, _ := merged.Lookup("openai", "gpt-4o-2024-08-06"); p.Source == "contract" {
		t.Errorf("override of gpt-4o applied to a dated id: %+v", p)
	}
	if _, ok := merged.Lookup("mistral", "in-house-7b"); !ok {
		t.Error("extension missing")
	}
	if _, ok := merged.Lookup("anthropic", "claude-haiku-4-5"); !ok {
		t.Error("shipped entry lost")
	}
	if p, _ := base.Lookup("openai", "gpt-4o"); p.Input != 2.5 {
		t.Errorf("the base table changed: %+v", p)
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "anything", true}, {"gpt-4o*", "gpt-4o-mini", true}, {"gpt-4o", "gpt-4o-mini", false},
		{"claude-*-4-5", "claude-haiku-4-5", true}, {"a?c", "abc", true}, {`a\*`, "a*", true}, {`a\*`, "ab", false},
		{"*mini", "gpt-4o-mini-2024", false}, {"", "", true}, {"", "x", false},
	} {
		if globMatch(tc.p, tc.s) != tc.ok {
			t.Errorf("%q %q: want %v", tc.p, tc.s, tc.ok)
		}
	}
}

// The Anthropic SDK pointed at the /anthropic prefix; anthropic-version and
// anthropic-beta reach the provider unchanged.
func TestAnthropicPrefixHeadersPassThrough(t *testing.T) {
	f := newFixture(t, 34, nil)
	var version, beta string
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		version, beta = r.Header.Get("Anthropic-Version"), r.Header.Get("Anthropic-Beta")
		anthropicJSON(w, r)
	}
	c := anthropic.NewClient(aopt.WithBaseURL(f.srv.URL+"/anthropic"), aopt.WithAuthToken(f.token),
		aopt.WithMaxRetries(0), aopt.WithHeader("anthropic-beta", "prompt-caching-2024-07-31"))
	if _, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.ModelClaudeHaiku4_5, MaxTokens: 5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}); err != nil {
		t.Fatal(err)
	}
	if version != "2023-06-01" || beta != "prompt-caching-2024-07-31" {
		t.Fatalf("version %q beta %q", version, beta)
	}
}
