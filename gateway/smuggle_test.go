package gateway

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// Requests built so that the provider could read another call than the
// one the gateway authorized are refused, or forwarded without the part
// that would differ.
func TestSmuggledRequests(t *testing.T) {
	f := newFixture(t, 60, nil)
	type seenReq struct {
		method, query string
		header        http.Header
		body          []byte
	}
	var last seenReq
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last = seenReq{r.Method, r.URL.RawQuery, r.Header.Clone(), b}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[]}`)
	}
	tok, _ := f.issue(t, nil2gen(61), []string{"images", "models", "files", "provider:openai", "model:dall-e-2"})

	// A "model" form part the gateway would skip as a file or an
	// attachment, or by the case of its name.
	part := func(disposition string) (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		w, _ := mw.CreateFormFile("image", "a.png")
		w.Write([]byte("png"))
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", disposition)
		w, _ = mw.CreatePart(h)
		w.Write([]byte("gpt-image-1"))
		mw.WriteField("prompt", "a cat")
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}
	for _, d := range []string{
		`form-data; name="model"; filename="m.txt"`,
		`attachment; name="model"`,
		`form-data; name="Model"`,
		`form-data; name="model"; filename*=UTF-8''m.txt`,
		`form-data; name="model`, // malformed
	} {
		calls := f.upstreamCalls()
		ct, body := part(d)
		if st, msg := f.do(t, "POST", "/v1/images/edits", tok, ct, body); st != http.StatusBadRequest {
			t.Errorf("%s: status %d %s, want 400", d, st, msg)
		}
		if f.upstreamCalls() != calls {
			t.Errorf("%s: reached upstream", d)
		}
	}

	// Two Content-Type headers: the provider may split the body by the
	// other boundary.
	ct, body := form([2]string{"file", "png"}, [2]string{"model", "dall-e-2"})
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/images/edits", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Add("Content-Type", ct)
	req.Header.Add("Content-Type", "multipart/form-data; boundary=other")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("two Content-Type headers: %d, want 400", resp.StatusCode)
	}

	// A GET with a body and a method override: forwarded as a plain GET.
	req, _ = http.NewRequest("GET", f.srv.URL+"/v1/models?%6Bey="+tok+"&limit=2", strings.NewReader(`{"model":"gpt-4o","messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-HTTP-Method-Override", "POST")
	req.Header.Set("X-Method-Override", "POST")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models: %d", resp.StatusCode)
	}
	if last.method != "GET" || len(last.body) != 0 || last.header.Get("X-Http-Method-Override") != "" || last.header.Get("X-Method-Override") != "" {
		t.Errorf("upstream got %s with %d body bytes and overrides %q %q", last.method, len(last.body),
			last.header.Get("X-Http-Method-Override"), last.header.Get("X-Method-Override"))
	}
	// A "key" parameter, however escaped, never reaches the provider.
	if strings.Contains(last.query, "ey=") || strings.Contains(last.query, tok) || last.query != "limit=2" {
		t.Errorf("upstream query %q", last.query)
	}

	// A wildcard holding anything but an id's characters.
	for _, p := range []string{"/v1/files/file%5Cabc", "/v1/files/a%20b", "/v1/files/x%3Ay"} {
		if st, _ := f.do(t, "GET", p, tok, "", nil); st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, st)
		}
	}
	if st, _ := f.do(t, "GET", "/v1/models?a=%zz", tok, "", nil); st != http.StatusBadRequest {
		t.Errorf("malformed query: %d, want 400", st)
	}
}

func TestWildcardValue(t *testing.T) {
	for _, tc := range []struct {
		v       string
		bedrock bool
		ok      bool
	}{
		{"gemini-2.5-flash", false, true},
		{"gemini-2.5-flash-lite:generateContent", false, false}, // a second action
		{"file-abc_1", false, true},
		{`dep\x`, false, false},
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", true, true},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude", true, true},
		{"a b", true, false},
		{"", false, true}, // emptiness is checked by the caller
	} {
		if got := wildcardValue(tc.v, tc.bedrock); got != tc.ok {
			t.Errorf("wildcardValue(%q, %v) = %v", tc.v, tc.bedrock, got)
		}
	}
}

// Keys another parser could read as "model", and tiers billed above the
// metered rates, are refused.
func TestParseRequestRefusesLookalikes(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"model":"gpt-4o-mini","MODEL":"gpt-4o"}`, false},
		{`{"Model":"gpt-4o"}`, false},
		{`{"model":"gpt-4o-mini","modelx":"y"}`, true},
		{`{"model":"gpt-4o-mini","service_tier":"priority"}`, false},
		{`{"model":"gpt-4o-mini","service_tier":"scale"}`, false},
		{`{"model":"gpt-4o-mini","service_tier":7}`, false},
		{`{"model":"gpt-4o-mini","service_tier":"flex"}`, true},
		{`{"model":"gpt-4o-mini","service_tier":"auto"}`, true},
		{`{"model":"gpt-4o-mini","service_tier":null}`, true},
	} {
		_, err := parseRequest([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.body, err, tc.ok)
		}
	}
}

// Tools the provider runs and bills per use are found in each API's
// shape; functions the caller runs are not.
func TestServerTools(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"model":"m","tools":[{"type":"function","function":{"name":"f"}}]}`, ""},
		{`{"model":"m","tools":[{"name":"get_weather","input_schema":{}}]}`, ""},
		{`{"model":"m","tools":[{"type":"bash_20250124","name":"bash"}]}`, ""},
		{`{"model":"m","tools":[{"name":"f","input_schema":{}},{"type":"web_search_20250305","name":"web_search"}]}`, "web_search_20250305"},
		{`{"model":"m","tools":[{"type":"code_execution_20250522","name":"c"}]}`, "code_execution_20250522"},
		{`{"model":"m","input":"x","tools":[{"type":"file_search","vector_store_ids":["vs"]}]}`, "file_search"},
		{`{"model":"m","input":"x","tools":[{"type":"web_search_preview"}]}`, "web_search_preview"},
		{`{"contents":[],"tools":[{"functionDeclarations":[]},{"googleSearch":{}}]}`, "googleSearch"},
		{`{"contents":[],"tools":[{"google_search_retrieval":{}}]}`, "google_search_retrieval"},
		{`{"model":"gpt-4o-search-preview","web_search_options":{}}`, "web_search_options"},
		{`{"model":"m","web_search_options":null}`, ""},
		{`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-1m-2025-08-07"],"max_tokens":5,"messages":[]}`, "context-1m"},
		{`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["token-efficient-tools-2025-02-19"],"max_tokens":5,"messages":[]}`, ""},
		{`{"model":"m","tools":"not an array"}`, ""},
	} {
		f, err := parseRequest([]byte(tc.body))
		if err != nil || f.ServerTool != tc.want {
			t.Errorf("%s: server tool %q, %v; want %q", tc.body, f.ServerTool, err, tc.want)
		}
	}

	f := newFixture(t, 69, nil)
	calls := f.upstreamCalls()
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini","messages":[],"web_search_options":{}}`)
	if st != http.StatusForbidden || !strings.Contains(body, "unmetered_tool") || f.upstreamCalls() != calls {
		t.Errorf("a billed server tool: %d %s", st, body)
	}
}

// The long-context beta bills above the metered rates.
func TestContext1MBetaRefused(t *testing.T) {
	f := newFixture(t, 70, nil)
	calls := f.upstreamCalls()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/messages", strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`))
	req.Header.Set("X-Api-Key", f.token)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Add("Anthropic-Beta", "prompt-caching-2024-07-31")
	req.Header.Add("Anthropic-Beta", "Context-1M-2025-08-07")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "context-1m") || f.upstreamCalls() != calls {
		t.Errorf("context-1m beta: %d %s", resp.StatusCode, b)
	}
}

// A batch input file's lines are read for what they will run.
func TestBatchFacts(t *testing.T) {
	line := func(url, body string) string {
		return `{"custom_id":"x","method":"POST","url":"` + url + `","body":` + body + "}\n"
	}
	chat := line("/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`)
	for _, tc := range []struct {
		file  string
		calls int
		ok    bool
	}{
		{chat + chat + "\n" + line("/v1/embeddings", `{"model":"text-embedding-3-small","input":"a"}`), 2, true},
		{chat + line("/v1/responses", `{"model":"gpt-4o","input":"a"}`), 2, true},
		{"not json\n", 0, false},
		{line("/v1/images/generations", `{"model":"dall-e-3","prompt":"a"}`), 0, false}, // not batchable here
		{line("/v1/chat/completions", `{"messages":[]}`), 0, false},                     // no model
		{line("/v1/chat/completions", `{"model":"a","model":"gpt-4o"}`), 0, false},      // repeated key
		{line("/v1/chat/completions", `{"model":"a","MODEL":"gpt-4o"}`), 0, false},      // case look-alike
	} {
		var f requestFacts
		err := batchFacts(&f, []byte(tc.file))
		if (err == nil) != tc.ok || len(f.Batch) != tc.calls {
			t.Errorf("%q: %d calls, %v", tc.file, len(f.Batch), err)
		}
	}
	var many strings.Builder
	for i := range maxBatchModels + 1 {
		many.WriteString(line("/v1/chat/completions", `{"model":"m`+strings.Repeat("x", i)+`"}`))
	}
	var f requestFacts
	if err := batchFacts(&f, []byte(many.String())); err == nil {
		t.Error("a batch naming more models than the bound was accepted")
	}
}

// Second-review cases: look-alike batch keys, repeated form parts, Bedrock
// pass-through fields, tiers, best_of and Google's echoed key error.
func TestSecondReviewCases(t *testing.T) {
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	for _, file := range []string{
		`{"url":"/v1/chat/completions","body":` + chat + `,"Body":{"model":"o1-pro"}}`,
		`{"URL":"/v1/embeddings","url":"/v1/chat/completions","body":` + chat + `}`,
		`{"url":"/v1/chat/completions","body":` + chat + `,"body":{"model":"o1-pro"}}`,
		`{"url":"/v1/responses","body":{"model":"gpt-4o","input":"a","tools":[{"type":"web_search"}]}}`,
	} {
		var f requestFacts
		if err := batchFacts(&f, []byte(file+"\n")); err == nil {
			t.Errorf("batch line accepted: %s", file)
		}
	}
	formOf := func(parts ...[3]string) (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", p[0])
			w, _ := mw.CreatePart(h)
			w.Write([]byte(p[1]))
		}
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}
	good := `{"url":"/v1/chat/completions","body":` + chat + "}\n"
	bad := `{"url":"/v1/chat/completions","body":{"model":"o1-pro","messages":[]}}` + "\n"
	purpose := [3]string{`form-data; name="purpose"`, "batch"}
	file := func(s string) [3]string { return [3]string{`form-data; name="file"; filename="b.jsonl"`, s} }
	for i, parts := range [][][3]string{
		{purpose, file(good), {`form-data; name="purpose"`, "assistants"}},
		{purpose, file(good), file(bad)},
		{{`form-data; name="PURPOSE"`, "batch"}, file(bad)},
		{purpose, {`form-data; name="File"; filename="b.jsonl"`, bad}},
	} {
		ct, body := formOf(parts...)
		if _, err := parseMultipart(body, ct); err == nil {
			t.Errorf("form %d accepted", i)
		}
	}
	ct, body := formOf(file(bad), [3]string{`form-data; name="purpose"`, "batch"})
	if f, err := parseMultipart(body, ct); err != nil || len(f.Batch) != 1 || f.Batch[0].model != "o1-pro" {
		t.Errorf("purpose after file: %+v %v", f.Batch, err)
	}

	for _, tc := range []struct {
		body    string
		tool    string
		choices int64
		ok      bool
	}{
		{`{"messages":[],"additionalModelRequestFields":{"anthropic_beta":["context-1m-2025-08-07"]}}`, "context-1m", 0, true},
		{`{"messages":[],"additionalModelRequestFields":{"tools":[{"type":"web_search_20250305"}]}}`, "web_search_20250305", 0, true},
		{`{"messages":[],"additionalModelRequestFields":{"top_k":5}}`, "", 0, true},
		{`{"messages":[],"serviceTier":{"type":"priority"}}`, "", 0, false},
		{`{"messages":[],"serviceTier":{"type":"default"}}`, "", 0, true},
		{`{"model":"m","service_tier":"standard_only"}`, "", 0, true},
		{`{"model":"m","prompt":"a","best_of":20,"max_tokens":100}`, "", 20, true},
		{`{"model":"m","tools":[5,{"type":"web_search_preview"}]}`, "web_search_preview", 0, true},
		{`{"contents":[],"tools":[{"enterpriseWebSearch":{}}]}`, "enterpriseWebSearch", 0, true},
	} {
		f, err := parseRequest([]byte(tc.body))
		if (err == nil) != tc.ok || (err == nil && (f.ServerTool != tc.tool || f.Choices != tc.choices)) {
			t.Errorf("%s: tool %q choices %d err %v", tc.body, f.ServerTool, f.Choices, err)
		}
	}

	// A 400 whose message only echoes the words is not a rejected key.
	echo := []byte(`{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"API_KEY_INVALID\": Cannot find field.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest"}]}}`)
	if gemini.rejected(http.StatusBadRequest, nil, echo) {
		t.Error("an echoed field name was taken for a rejected key")
	}
	real := []byte(`{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`)
	if !gemini.rejected(http.StatusBadRequest, nil, real) {
		t.Error("Google's invalid-key answer not recognised")
	}
}

// Counting tokens with the tools an agent declares is free, so it is not
// refused for naming a server tool.
func TestCountTokensWithServerTools(t *testing.T) {
	f := newFixture(t, 71, nil)
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":12}`)
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/messages/count_tokens",
		strings.NewReader(`{"model":"claude-haiku-4-5","messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`))
	req.Header.Set("X-Api-Key", f.token)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("count_tokens with a server tool: %d %s", resp.StatusCode, b)
	}
}
