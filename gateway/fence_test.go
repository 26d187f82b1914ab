package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
)

// testPrices prices the models these tests use, with context windows.
func testPrices(t testing.TB) *PriceTable {
	t.Helper()
	p, err := ParsePrices([]byte(`{"models":[
		{"provider":"openai","model":"gpt-4o","input":2.5,"cached_input":1.25,"output":10,"max_output":16384,"context_window":128000,"source":"test","as_of":"2026-12-01"},
		{"provider":"openai","model":"gpt-4o-mini","input":0.15,"cached_input":0.075,"output":0.6,"max_output":16384,"context_window":128000,"source":"test","as_of":"2026-12-01"},
		{"provider":"openai","model":"gpt-4o-transcribe","mode":"audio","input":2.5,"output":10,"max_output":2000,"context_window":16000,"source":"test","as_of":"2026-12-01"},
		{"provider":"anthropic","model":"claude-haiku-4-5","input":1,"cache_write":1.25,"cache_write_1h":2,"cached_input":0.1,"output":5,"max_output":64000,"context_window":200000,"source":"test","as_of":"2026-12-01"},
		{"provider":"openrouter","model":"openai/gpt-4.1-mini","input":0.15,"output":0.6,"max_output":16384,"context_window":128000,"source":"test","as_of":"2026-12-01"},
		{"provider":"together","model":"deepseek-ai/DeepSeek-V3","input":0.88,"output":0.88,"max_output":8192,"context_window":131072,"source":"test","as_of":"2026-12-01"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScanInput(t *testing.T) {
	for _, tc := range []struct {
		body   string
		opaque bool
		files  []string
	}{
		{`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, false, nil},
		{`{"messages":[{"role":"user","content":"see https://example.com for more"}]}`, false, nil},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]}]}`, true, nil},
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"data:image/png;base64,AAAA"}]}]}`, true, nil},
		{`{"input":[{"type":"input_file","file_id":"file-1"}]}`, true, []string{"file-1"}},
		{`{"input":"hi","previous_response_id":"resp_1"}`, true, nil},
		{`{"input":"hi","pr\u0065vious_response_id":"resp_1"}`, true, nil},
		{`{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/ogg","data":"T2dn"}}]}]}`, true, nil},
		{`{"contents":[{"parts":[{"text":"x"}]}],"cachedContent":"cachedContents/abc"}`, true, nil},
		{`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"file_011"}}]}]}`, true, []string{"file_011"}},
		{`{"messages":[{"content":[{"image":{"format":"png","source":{"bytes":"iVBO"}}}]}]}`, true, nil},
		{`{"input":[{"type":"item_reference","id":"msg_1"}]}`, true, nil},
		{`{"messages":[{"role":"user","content":[{"type":"\u0069mage","source":{}}]}]}`, true, nil},
		{`{"file_id":"a","x":{"file\u005fid":"b"}}`, true, []string{"a", "b"}},
	} {
		opaque, files := scanInput([]byte(tc.body))
		if opaque != tc.opaque || fmt.Sprint(files) != fmt.Sprint(tc.files) {
			t.Errorf("%s: opaque %v files %v, want %v %v", tc.body, opaque, files, tc.opaque, tc.files)
		}
	}
}

// Fields that select other models, another provider route, a billed
// tool or a dearer tier are refused unless the role allows them, however
// the key is spelled; unknown fields are refused; nothing refused
// reaches the upstream.
func TestBodyFieldAllowList(t *testing.T) {
	or := newProviderUpstream(t, openAIJSON)
	tg := newProviderUpstream(t, openAIJSON)
	var allow []string
	f := newFixture(t, 300, func(c *Config) {
		c.Upstreams["openrouter"], c.Upstreams["together"] = or.URL, tg.URL
		c.Prices = testPrices(t)
		c.Roles = func(name string) (*broker.Role, bool) {
			return &broker.Role{Name: name, Allow: broker.Allowances{Fields: allow}}, true
		}
	})
	g := nil2gen(301)
	f.addHeld(t, "hc_or", "openrouter", "api-key", "sk-or-v1-"+g.Hex(64))
	f.addHeld(t, "hc_tg", "together", "api-key", g.Hex(64))
	f.openai, f.anthropic = openAIJSON, openAIJSON
	tok, _ := f.issue(t, g, []string{"chat", "model:*", "provider:openai", "provider:openrouter", "provider:together", "provider:anthropic"})
	const orMsg = `"model":"openai/gpt-4.1-mini","messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, path, body string
		allow            []string
		status           int
		code             string
	}{
		{"plain", "/openrouter/v1/chat/completions", `{` + orMsg + `}`, nil, 200, ""},
		{"models fallback", "/openrouter/v1/chat/completions", `{` + orMsg + `,"models":["openai/o1-pro"]}`, nil, 403, "field_not_allowed"},
		{"escaped models", "/openrouter/v1/chat/completions", `{` + orMsg + `,"mod\u0065ls":["openai/o1-pro"]}`, nil, 403, "field_not_allowed"},
		{"models in other case", "/openrouter/v1/chat/completions", `{` + orMsg + `,"Models":["openai/o1-pro"]}`, nil, 400, "ambiguous_field"},
		{"route", "/openrouter/v1/chat/completions", `{` + orMsg + `,"route":"fallback"}`, nil, 403, "field_not_allowed"},
		{"plugins", "/openrouter/v1/chat/completions", `{` + orMsg + `,"plugins":[{"id":"web"}]}`, nil, 403, "field_not_allowed"},
		{"provider routing", "/openrouter/v1/chat/completions", `{` + orMsg + `,"provider":{"order":["x"]}}`, nil, 403, "field_not_allowed"},
		{"allowed by role", "/openrouter/v1/chat/completions", `{` + orMsg + `,"plugins":[{"id":"web"}]}`, []string{"plugins"}, 200, ""},
		{"unknown field", "/openrouter/v1/chat/completions", `{` + orMsg + `,"x_extra":1}`, nil, 403, "field_not_allowed"},
		{"look-alike of max_tokens", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"Max_Tokens":1}`, nil, 400, "ambiguous_field"},
		{"folded look-alike", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"maxtokens":1}`, nil, 400, "ambiguous_field"},
		{"audio output", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"modalities":["text","audio"],"audio":{"voice":"alloy"}}`, nil, 403, "field_not_allowed"},
		{"text modality", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"modalities":["text"]}`, nil, 200, ""},
		{"together safety model", "/together/v1/chat/completions", `{"model":"deepseek-ai/DeepSeek-V3","messages":[],"safety_model":"meta-llama/Meta-Llama-Guard-3-8B"}`, nil, 403, "field_not_allowed"},
		{"OpenAI has no models field", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"models":["gpt-4o"]}`, nil, 403, "field_not_allowed"},
		{"anthropic container", "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[],"container":"c1"}`, nil, 403, "permission_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow = tc.allow
			before := or.calls() + tg.calls() + f.upstreamCalls()
			st, body := f.post(t, tc.path, tok, tc.body)
			if st != tc.status || (tc.code != "" && !strings.Contains(body, `"`+tc.code+`"`)) {
				t.Fatalf("status %d %s, want %d %s", st, body, tc.status, tc.code)
			}
			after := or.calls() + tg.calls() + f.upstreamCalls()
			if st != 200 && after != before {
				t.Errorf("a refused request reached the upstream")
			}
			if strings.Contains(body, "o1-pro") {
				t.Errorf("the refusal echoes a value: %s", body)
			}
		})
	}
}

// Gemini's response field masks would drop usageMetadata: the query
// parameters never reach Google.
func TestQueryAllowList(t *testing.T) {
	up := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[],"usageMetadata":{"promptTokenCount":200000,"candidatesTokenCount":10}}`)
	})
	f := newFixture(t, 310, func(c *Config) {
		c.Upstreams["google"] = up.URL
	})
	g := nil2gen(311)
	f.addHeld(t, "hc_g", "google", "api-key", "AIza"+g.Alnum(35))
	tok, _ := f.issue(t, g, []string{"chat", "model:gemini-2.5-flash", "provider:google"})
	for i, q := range []string{"?fields=candidates", "?%24fields=candidates", "?$fields=candidates&alt=json", "?key=abc&fields=x", "?FIELDS=x&Alt=sse"} {
		st, body := f.post(t, "/gemini/v1beta/models/gemini-2.5-flash:generateContent"+q, tok, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
		if st != 200 {
			t.Fatalf("%s: %d %s", q, st, body)
		}
		got := up.last(t).query
		if strings.Contains(strings.ToLower(got), "fields") || strings.Contains(got, "key") || strings.Contains(got, "Alt") {
			t.Errorf("%s reached Google as %q", q, got)
		}
		if r := f.waitRecords(t, i+1)[i]; r.Usage.InputTokens != 200000 {
			t.Errorf("%s: metered %+v", q, r.Usage)
		}
	}
}

// The review's case: 40 concurrent gpt-4o calls with max_tokens 5 and a
// 120k-token attachment the gateway cannot see must not spend more than
// the budget plus one request's true cost.
func TestOpaqueInputReservesContextWindow(t *testing.T) {
	const budget = 1.0
	var adm *MemoryAdmission
	f := newFixture(t, 320, func(c *Config) {
		c.Prices = testPrices(t)
		withRole(broker.Budget{PerTokenUSD: budget}, broker.RateLimits{}, &adm)(c)
	})
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // keep them in flight together
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":120000,"completion_tokens":5}}`)
	}
	tok, id := f.issue(t, nil2gen(321), []string{"chat", "model:gpt-4o", "provider:openai"})
	body := `{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://attacker.test/huge.png"}}]}]}`
	var wg sync.WaitGroup
	ok := 0
	var mu sync.Mutex
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, _ := f.post(t, "/v1/chat/completions", tok, body); st == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f.waitRecords(t, ok)
	spent, _ := adm.Spent(id)
	oneCall := (120000*2.5 + 5*10) / 1e6
	if spent > budget+oneCall {
		t.Fatalf("spent $%.4f against a $%.2f budget (%d calls admitted); bound is budget + one call ($%.4f)", spent, budget, ok, budget+oneCall)
	}
	if ok == 0 {
		t.Fatal("no call admitted")
	}
	// Without a context window, such a request cannot be bounded at all.
	f2 := newFixture(t, 322, func(c *Config) {
		c.Prices, _ = ParsePrices([]byte(`{"models":[{"provider":"openai","model":"gpt-4o","input":2.5,"output":10,"source":"test","as_of":"2026-12-01"}]}`))
	})
	tok2, _ := f2.issue(t, nil2gen(323), []string{"chat", "model:gpt-4o", "provider:openai"})
	if st, b := f2.post(t, "/v1/chat/completions", tok2, body); st != 403 || !strings.Contains(b, "unbounded_input") {
		t.Fatalf("no context window: %d %s", st, b)
	}
	if f2.upstreamCalls() != 0 {
		t.Fatal("an unbounded request reached the upstream")
	}
}

// A call whose usage never arrives is charged its context window at the
// dearest input rate plus the output bound, never the body's size.
func TestNoUsageChargesUpperBound(t *testing.T) {
	f := newFixture(t, 330, func(c *Config) { c.Prices = testPrices(t) })
	tok, _ := f.issue(t, nil2gen(331), []string{"chat", "responses", "audio", "model:*", "provider:openai", "provider:anthropic"})
	p := testPrices(t)
	gpt4o, _ := p.Lookup("openai", "gpt-4o")
	haiku, _ := p.Lookup("anthropic", "claude-haiku-4-5")
	tr, _ := p.Lookup("openai", "gpt-4o-transcribe")
	ct, mp := form([2]string{"file", "OggS-audio"}, [2]string{"model", "gpt-4o-transcribe"}, [2]string{"response_format", "text"})
	for _, tc := range []struct {
		name, path, ct, body string
		answer               http.HandlerFunc
		want                 float64
	}{
		{"background response", "/v1/responses", "application/json", `{"model":"gpt-4o","input":"hi","background":true,"max_output_tokens":100}`,
			func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"resp_1","object":"response","status":"queued","usage":null}`)
			}, (128000*2.5 + 100*10) / 1e6},
		{"transcription as text", "/v1/audio/transcriptions", ct, string(mp),
			func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "hello")
			}, (float64(tr.ContextWindow)*tr.Input + float64(tr.MaxOutput)*tr.Output) / 1e6},
		{"anthropic stream cut after message_start", "/v1/messages", "application/json", `{"model":"claude-haiku-4-5","max_tokens":300,"stream":true,"messages":[]}`,
			func(w http.ResponseWriter, _ *http.Request) {
				sse(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":50,\"output_tokens\":1}}}\n\n")
				panic(http.ErrAbortHandler)
			}, (50*haiku.Input + 300*haiku.Output) / 1e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.openai, f.anthropic = tc.answer, tc.answer
			n := len(f.usage.Records())
			req, _ := http.NewRequest("POST", f.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", tc.ct)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			r := f.waitRecords(t, n+1)[n]
			if r.CostUSD < tc.want-1e-9 || !r.Estimated {
				t.Errorf("charged $%.6f (estimated %v), want at least $%.6f: %+v", r.CostUSD, r.Estimated, tc.want, r)
			}
		})
	}
	_ = gpt4o
}

// Files and batches reach only the workload that created them; a batch
// needs an input file uploaded through aicred whose lines are in scope.
func TestObjectsOwnedByWorkload(t *testing.T) {
	f := newFixture(t, 340, nil)
	f.openai = openAIAPI(t)
	g := nil2gen(341)
	mine, _ := f.issue(t, g, []string{"chat", "embeddings", "files", "batches", "provider:openai", "model:gpt-4o-mini", "model:text-embedding-3-small"})
	// Another workload with the same scope and held key.
	other := f.issueFor(t, g, "workload-b", []string{"chat", "embeddings", "files", "batches", "provider:openai", "model:gpt-4o-mini", "model:text-embedding-3-small"})
	chatOnly := f.issueFor(t, g, "workload-a", []string{"chat", "files", "batches", "provider:openai", "model:gpt-4o-mini"})
	line := `{"custom_id":"1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"x"}}` + "\n"
	ct, up := form([2]string{"purpose", "batch"}, [2]string{"file", line})
	if st, b := f.do(t, "POST", "/v1/files", mine, ct, up); st != 200 {
		t.Fatalf("upload: %d %s", st, b)
	}
	batch := `{"input_file_id":"file-abc","endpoint":"/v1/embeddings","completion_window":"24h"}`
	for _, tc := range []struct {
		name, method, path, token, ct, body string
		status                              int
	}{
		{"other workload reads the file", "GET", "/v1/files/file-abc", other, "", "", 404},
		{"other workload reads its content", "GET", "/v1/files/file-abc/content", other, "", "", 404},
		{"other workload deletes it", "DELETE", "/v1/files/file-abc", other, "", "", 404},
		{"other workload batches it", "POST", "/v1/batches", other, "application/json", batch, 404},
		{"other workload names it in a chat", "POST", "/v1/chat/completions", other, "application/json", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, 404},
		{"a file never uploaded through aicred", "POST", "/v1/batches", mine, "application/json", `{"input_file_id":"file-xyz","endpoint":"/v1/embeddings","completion_window":"24h"}`, 404},
		{"no input file", "POST", "/v1/batches", mine, "application/json", `{"endpoint":"/v1/embeddings","completion_window":"24h"}`, 400},
		{"batch lines out of the creating token's scope", "POST", "/v1/batches", chatOnly, "application/json", batch, 403},
		{"owner reads it", "GET", "/v1/files/file-abc", mine, "", "", 200},
		{"owner batches it", "POST", "/v1/batches", mine, "application/json", batch, 200},
		{"owner reads the batch", "GET", "/v1/batches/batch_1", mine, "", "", 200},
		{"other workload reads the batch", "GET", "/v1/batches/batch_1", other, "", "", 404},
		{"other workload cancels the batch", "POST", "/v1/batches/batch_1/cancel", other, "", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upstreamCalls()
			st, b := f.do(t, tc.method, tc.path, tc.token, tc.ct, []byte(tc.body))
			if st != tc.status {
				t.Fatalf("status %d %s, want %d", st, b, tc.status)
			}
			if st >= 400 && f.upstreamCalls() != before {
				t.Error("a refused request reached the upstream")
			}
		})
	}
	// Upload purposes are allow-listed; Together's batch-api is a batch
	// purpose and its lines are checked.
	badLine := `{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"o1-pro","messages":[]}}` + "\n"
	for _, p := range []string{"batch-api", "BATCH", "batch_api"} {
		ct, up := form([2]string{"purpose", p}, [2]string{"file", badLine})
		if st, b := f.do(t, "POST", "/v1/files", mine, ct, up); st != 403 {
			t.Errorf("purpose %q with an out-of-scope line: %d %s", p, st, b)
		}
	}
	ct, up = form([2]string{"purpose", "mystery"}, [2]string{"file", "x"})
	if st, b := f.do(t, "POST", "/v1/files", mine, ct, up); st != 403 || !strings.Contains(b, "purpose_not_allowed") {
		t.Errorf("unknown purpose: %d %s", st, b)
	}
}

func TestObjectListFiltered(t *testing.T) {
	f := newFixture(t, 350, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/files", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"file-mine","object":"file"},{"id":"file-theirs","object":"file"}],"has_more":false}`)
	})
	f.openai = mux.ServeHTTP
	g := nil2gen(351)
	tok, _ := f.issue(t, g, []string{"files", "provider:openai"})
	objs := f.gw.objects
	if err := objs.RecordGatewayObject(t.Context(), aicred.GatewayObject{Provider: "openai", Kind: aicred.ObjectFile, ID: "file-mine",
		TokenID: "tok_x", Workload: "https://issuer.test workload-a", Role: "chat-role"}); err != nil {
		t.Fatal(err)
	}
	st, b := f.do(t, "GET", "/v1/files", tok, "", nil)
	if st != 200 || !strings.Contains(b, "file-mine") || strings.Contains(b, "file-theirs") || !strings.Contains(b, `"has_more":false`) {
		t.Fatalf("%d %s", st, b)
	}
}

// issueFor issues a token of the fixture's role for another subject.
func (f *fixture) issueFor(t testing.TB, g interface {
	Alnum(int) string
	Hex(int) string
}, subject string, scope []string) string {
	t.Helper()
	token := provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen))
	err := f.tokens.IssueGrant(t.Context(), &aicred.Grant{
		ID: "tok_" + g.Hex(24), TokenHash: aicred.HashToken(token), Class: aicred.TokenWorkload,
		Issuer: "https://issuer.test", Subject: subject, Role: "chat-role",
		Scope: scope, Credentials: f.creds, ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// A client that hangs up before the usage chunk does not make the call
// free or cheap: the gateway reads the rest of the stream (bounded) and
// charges what the provider reports; a stream that never ends after the
// client left is cut after DrainTimeout and charged its bound.
func TestDrainAfterClientLeaves(t *testing.T) {
	release := make(chan struct{})
	cut := make(chan struct{})
	f := newFixture(t, 360, func(c *Config) {
		c.Prices = testPrices(t)
		c.DrainTimeout = 300 * time.Millisecond
	})
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		sse(w, `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n")
		if strings.Contains(r.Header.Get("User-Agent"), "stall") {
			<-r.Context().Done()
			close(cut)
			return
		}
		<-release
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7000,"completion_tokens":900}}`+"\n\ndata: [DONE]\n\n")
	}
	leave := func(ua string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		_, _ = resp.Body.Read(buf)
		resp.Body.Close()
	}
	tok, _ := f.issue(t, nil2gen(361), []string{"chat", "model:gpt-4o", "provider:openai"})
	f.token = tok
	leave("reader")
	time.Sleep(100 * time.Millisecond) // the client is gone
	close(release)
	r := f.waitRecords(t, 1)[0]
	// The outcome is client_closed when a write to the gone client failed
	// first, ok when the proxy read to the end before noticing; either
	// way the usage charged is the provider's.
	if (r.Outcome != OutcomeClientClosed && r.Outcome != OutcomeOK) || r.Estimated || r.Usage.InputTokens != 7000 || r.Usage.OutputTokens != 900 {
		t.Fatalf("drained record %+v", r)
	}
	start := time.Now()
	leave("stall")
	select {
	case <-cut:
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled upstream was not cut after the drain timeout")
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("cut after %v, before the drain timeout", el)
	}
	r = f.waitRecords(t, 2)[1]
	p, _ := testPrices(t).Lookup("openai", "gpt-4o")
	if want := (128000*p.Input + 1000*p.Output) / 1e6; r.CostUSD < want-1e-9 || r.Outcome != OutcomeClientClosed {
		t.Fatalf("stalled record %+v, want cost >= %v", r, want)
	}
}

// A file's content is not read into memory to track objects: a download
// larger than any answer the tracker would read streams through.
func TestObjectFileContentStreams(t *testing.T) {
	f := newFixture(t, 370, nil)
	const size = maxObjectAnswer + 1<<20
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := strings.Repeat("x", 1<<16)
		for n := 0; n < size; n += len(chunk) {
			io.WriteString(w, chunk)
		}
	}
	tok, _ := f.issue(t, nil2gen(371), []string{"files", "provider:openai"})
	if err := f.gw.objects.RecordGatewayObject(t.Context(), aicred.GatewayObject{Provider: "openai", Kind: aicred.ObjectFile, ID: "file-big",
		TokenID: "tok_x", Workload: "https://issuer.test workload-a", Role: "chat-role"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/files/file-big/content", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || n < size {
		t.Fatalf("status %d, %d bytes of %d", resp.StatusCode, n, size)
	}
}
