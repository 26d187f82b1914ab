package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
)

// adversary is one upstream standing in for every provider, answering as
// a hostile or broken provider would: it echoes the request's headers and
// body into its answer's body and headers, reports huge usage, redirects
// elsewhere and streams. It records what reached it.
type adversary struct {
	*httptest.Server
	t         *testing.T
	elsewhere *httptest.Server // a redirect target: must never be called

	mu       sync.Mutex
	rng      *rand.Rand
	calls    []advCall
	strayHit int
}

type advCall struct {
	method, path, query string
	header              http.Header
	body                []byte
	reported            *Usage // the token usage the answer reported, if any
	status              int
}

func newAdversary(t *testing.T, seed uint64) *adversary {
	a := &adversary{t: t, rng: rand.New(rand.NewPCG(seed, seed+1))}
	a.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.strayHit++
		a.mu.Unlock()
	}))
	t.Cleanup(a.elsewhere.Close)
	a.Server = httptest.NewServer(http.HandlerFunc(a.answer))
	t.Cleanup(a.Close)
	return a
}

func (a *adversary) answer(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var echo bytes.Buffer
	_ = r.Header.Write(&echo)
	echo.Write(body)
	echoed := echo.String()

	a.mu.Lock()
	mode := a.rng.IntN(6)
	in, out := int64(a.rng.IntN(2_000_000)+1), int64(a.rng.IntN(200_000)+1)
	status := []int{200, 200, 400, 401, 429, 500}[a.rng.IntN(6)]
	c := advCall{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.calls = append(a.calls, c)
		a.mu.Unlock()
	}()

	// Every header the request carried comes back as a response header.
	for k, vs := range r.Header {
		for _, v := range vs {
			w.Header().Add("X-Echo-"+k, v)
		}
	}
	w.Header().Set("X-Request-Id", fmt.Sprint("adv-", len(a.calls)))
	if mode == 0 {
		w.Header().Set("Location", a.elsewhere.URL+"/?h="+url.QueryEscape(echoed))
		w.WriteHeader(http.StatusTemporaryRedirect)
		c.status = http.StatusTemporaryRedirect
		return
	}
	u := Usage{InputTokens: in, OutputTokens: out}
	usage, header := usageAnswer(r.URL.Path, in, out)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	if header != nil || usage != "" {
		c.reported = &u
	}
	stream := bytes.Contains(body, []byte(`"stream":true`)) || strings.Contains(r.URL.Path, "stream")
	c.status = status
	if status != 200 {
		c.reported = nil
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":%q,"echo_b64":%q}}`, echoed, base64.StdEncoding.EncodeToString([]byte(echoed)))
		return
	}
	if stream && !strings.Contains(r.URL.Path, "/model/") {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		// The echo goes out one byte per flush, so a key straddles reads.
		for i := 0; i < len(echoed) && i < 400; i++ {
			fmt.Fprintf(w, "data: {\"echo\":%q}\n\n", echoed[i:i+1])
			fl.Flush()
		}
		fmt.Fprintf(w, "data: {\"echo\":%q}\n\n", echoed)
		if usage != "" {
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", usage)
		}
		io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	fmt.Fprintf(w, `{"id":"x-1","echo":%q%s}`, echoed, usage)
}

// usageAnswer is how the route's provider reports in and out tokens: a
// JSON member to append to the answer, or headers (Bedrock InvokeModel).
func usageAnswer(path string, in, out int64) (member string, header map[string]string) {
	switch {
	case strings.HasSuffix(path, "/chat/completions"), strings.HasSuffix(path, "/embeddings"):
		return fmt.Sprintf(`,"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d}`, in, out), nil
	case strings.HasSuffix(path, "/responses"):
		return fmt.Sprintf(`,"usage":{"input_tokens":%d,"output_tokens":%d}`, in, out), nil
	case strings.HasSuffix(path, "/messages"):
		return fmt.Sprintf(`,"usage":{"input_tokens":%d,"output_tokens":%d}`, in, out), nil
	case strings.Contains(path, ":generateContent"), strings.Contains(path, ":streamGenerateContent"):
		return fmt.Sprintf(`,"usageMetadata":{"promptTokenCount":%d,"candidatesTokenCount":%d}`, in, out), nil
	case strings.HasSuffix(path, "/converse"):
		return fmt.Sprintf(`,"usage":{"inputTokens":%d,"outputTokens":%d}`, in, out), nil
	case strings.HasSuffix(path, "/invoke"):
		return "", map[string]string{"X-Amzn-Bedrock-Input-Token-Count": fmt.Sprint(in), "X-Amzn-Bedrock-Output-Token-Count": fmt.Sprint(out)}
	}
	return "", nil
}

// Random well-formed and malformed requests on every route: whatever the
// client sends and whatever the upstream answers, (1) no byte of a held
// key reaches the client, (2) nothing out of scope reaches the upstream:
// models outside the token's globs, body fields the route does not
// document, headers and query parameters outside the allow-lists, the
// aicred token; (3) a call the upstream reported usage for is charged at
// least what that usage costs at the table's prices; (4) redirects are
// never followed.
func TestPropertyEveryRoute(t *testing.T) {
	adv := newAdversary(t, 400)
	g := provider.NewGen(401)
	unpriced := &Price{Provider: "*", Model: "unpriced", Input: 3, Output: 15, ContextWindow: 200_000, Source: "test", AsOf: "2026-12-01"}
	f := newFixture(t, 402, func(c *Config) {
		for p := range DefaultUpstreams() {
			c.Upstreams[p] = adv.URL
		}
		c.Upstreams["openai"], c.Upstreams["anthropic"], c.Upstreams["azure-openai"] = adv.URL, adv.URL, adv.URL
		c.Unpriced = unpriced
		c.BedrockRegion = "us-east-1"
		c.Roles = func(name string) (*broker.Role, bool) { return &broker.Role{Name: name}, true }
	})
	f.openai = func(w http.ResponseWriter, r *http.Request) { adv.answer(w, r) }
	f.anthropic = f.openai
	// Every other provider goes to the adversary with its own held key.
	secrets := []string{f.openaiKey, f.antKey}
	scope := []string{"model:gpt-4o-mini*", "model:claude-haiku-4-5*", "model:gemini-2.5-flash*", "model:anthropic.claude-haiku-4-5*", "model:ok-*"}
	for _, op := range broker.Operations() {
		scope = append(scope, string(op))
	}
	for p := range DefaultUpstreams() {
		scope = append(scope, "provider:"+p)
		if p == "openai" || p == "anthropic" {
			continue
		}
		key, kind := "k-"+p+"-"+g.Alnum(40), "api-key"
		if p == "aws" {
			id, secret := "AKIA"+g.Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16), g.B64(40)
			key, kind = id+":"+secret, "access-key-id"
			secrets = append(secrets, id, secret)
		}
		f.addHeld(t, "hc_"+p, p, kind, key)
		secrets = append(secrets, key)
	}
	azureKey := g.Hex(32)
	f.addHeld(t, "hc_azure", "azure-openai", "api-key", azureKey)
	secrets = append(secrets, azureKey)
	scope = append(scope, "provider:azure-openai")
	tok, _ := f.issue(t, g, scope)
	// Forms of each key a client must never see.
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, s[len(s)-12:], base64.StdEncoding.EncodeToString([]byte(s)))
	}

	rng := rand.New(rand.NewPCG(403, 404))
	models := []string{"gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "claude-opus-4-1", "gemini-2.5-flash", "gemini-2.5-pro",
		"anthropic.claude-haiku-4-5-20251001-v1:0", "ok-model", "evil-model"}
	inScope := func(m string) bool {
		for _, s := range scope {
			if p, ok := strings.CutPrefix(s, "model:"); ok && globMatch(p, m) {
				return true
			}
		}
		return false
	}
	const perRoute = 12
	checked, reached, charged := 0, 0, 0
	for _, mr := range f.gw.routes {
		rt := mr.route
		for range perRoute {
			model := models[rng.IntN(len(models))]
			path := fillPath(mr.path, model, rng)
			body, ct := genBody(rng, rt, model)
			req, _ := http.NewRequest(rt.method, f.srv.URL+path+genQuery(rng), bytes.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			authHeader(req, rt.surface, tok)
			junk := genHeaders(rng, req)
			adv.mu.Lock()
			before := len(adv.calls)
			adv.mu.Unlock()
			recs := len(f.usage.Records())

			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", rt.method, path, err)
			}
			var seen bytes.Buffer
			_ = resp.Header.Write(&seen)
			_, _ = io.Copy(&seen, resp.Body)
			resp.Body.Close()
			for k, vs := range resp.Trailer {
				seen.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
			checked++
			for _, fm := range forms {
				if strings.Contains(seen.String(), fm) {
					t.Fatalf("%s %s (status %d): the client saw held-key bytes", rt.method, path, resp.StatusCode)
				}
			}
			adv.mu.Lock()
			calls := slices.Clone(adv.calls[before:])
			adv.mu.Unlock()
			if len(calls) > 1 {
				t.Fatalf("%s %s: %d upstream calls for one request", rt.method, path, len(calls))
			}
			if len(calls) == 0 {
				continue
			}
			reached++
			c := calls[0]
			checkUpstream(t, rt, mr.path, model, c, junk, inScope)
			r := f.waitRecords(t, recs+1)[recs]
			if c.reported != nil && c.status == 200 && !rt.free && !r.Estimated && r.Usage.Units == 0 {
				p := unpriced
				if tp, ok := DefaultPrices().Lookup(rt.surface.provider, r.Model); ok {
					p = &tp
				}
				if want := p.Cost(*c.reported); r.CostUSD+1e-9 < want {
					t.Fatalf("%s %s: charged $%.6f, the upstream reported usage costing $%.6f", rt.method, path, r.CostUSD, want)
				}
				charged++
			}
		}
	}
	if adv.strayHit != 0 {
		t.Fatalf("a redirect was followed %d times", adv.strayHit)
	}
	t.Logf("%d routes, %d requests, %d reached the upstream, %d charged against reported usage", len(f.gw.routes), checked, reached, charged)
	if reached < checked/10 || charged == 0 {
		t.Fatalf("too few requests reached the upstream (%d of %d, %d charged) for the property to mean much", reached, checked, charged)
	}
}

// checkUpstream asserts what reached the upstream was in scope.
func checkUpstream(t *testing.T, rt *route, pattern, model string, c advCall, junk []string, inScope func(string) bool) {
	t.Helper()
	where := rt.method + " " + pattern
	whole := headerText(c.header) + c.query + string(c.body)
	if strings.Contains(whole, provider.TokenPrefixWorkload) {
		t.Fatalf("%s: the aicred token reached the upstream", where)
	}
	for _, h := range junk {
		if c.header.Get(h) != "" {
			t.Fatalf("%s: header %s reached the upstream", where, h)
		}
	}
	q, _ := url.ParseQuery(c.query)
	allowed, ok := queryAllowed[rt.surface.provider]
	if !ok {
		allowed = queryAllowed["openai"]
	}
	for k := range q {
		if !allowed[k] {
			t.Fatalf("%s: query parameter %q reached the upstream", where, k)
		}
	}
	if rt.fields != nil && rt.body == bodyJSON && len(c.body) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(c.body, &m) == nil {
			for k := range m {
				if !rt.fields.allowed[k] {
					t.Fatalf("%s: body field %q reached the upstream", where, k)
				}
			}
			var model string
			if json.Unmarshal(m["model"], &model) == nil && model != "" && rt.pathModel == "" && !inScope(model) {
				t.Fatalf("%s: model %q outside the scope reached the upstream", where, model)
			}
		}
	}
	// A model in the path, or a model call's form field, was the one sent.
	if (rt.pathModel != "" || (rt.body == bodyMultipart && !rt.free)) && !inScope(model) {
		t.Fatalf("%s: model %q outside the scope reached the upstream", where, model)
	}
}

// fillPath puts values in a route's wildcards: the model (or a model id
// with its action) where the model goes, ids elsewhere.
func fillPath(pattern, model string, rng *rand.Rand) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		j := strings.IndexByte(pattern, '}')
		b.WriteString(pattern[:i])
		switch name := pattern[i+1 : j]; name {
		case "model", "modelId", "deployment":
			b.WriteString(url.PathEscape(model))
		default:
			b.WriteString([]string{"file-1", "batch_1", "ftjob-1", "x"}[rng.IntN(4)])
		}
		pattern = pattern[j+1:]
	}
}

// genBody writes a body of the route's shape: documented fields with
// plausible values, and now and then an undocumented or look-alike key,
// a gated field or malformed JSON.
func genBody(rng *rand.Rand, rt *route, model string) ([]byte, string) {
	if rt.body == bodyAny || rt.method == http.MethodGet || rt.method == http.MethodDelete {
		return nil, ""
	}
	if rt.body == bodyMultipart {
		fields := [][2]string{{"model", model}, {"file", "audio-or-image-bytes"}}
		if rt.api == apiFileUpload {
			fields = [][2]string{{"purpose", []string{"batch", "fine-tune", "mystery"}[rng.IntN(3)]}, {"file", `{"custom_id":"1","url":"/v1/chat/completions","body":{"model":"` + model + `","messages":[]}}`}}
		}
		if rng.IntN(4) == 0 {
			fields = append(fields, [2]string{"Model", "evil-model"})
		}
		ct, b := form(fields...)
		return b, ct
	}
	m := map[string]any{}
	if rt.pathModel == "" {
		m["model"] = model
	}
	values := map[string]any{
		"messages": []any{map[string]any{"role": "user", "content": "hi"}}, "max_tokens": 64, "max_completion_tokens": 64,
		"max_output_tokens": 64, "n": 1 + rng.IntN(2), "stream": rng.IntN(3) == 0, "temperature": 0.5,
		"input": "hi", "contents": []any{map[string]any{"parts": []any{map[string]any{"text": "hi"}}}},
		"inferenceConfig": map[string]any{"maxTokens": 64}, "generationConfig": map[string]any{"maxOutputTokens": 64},
		"prompt": "a cat", "voice": "alloy", "input_file_id": "file-1", "endpoint": "/v1/chat/completions",
		"completion_window": "24h", "training_file": "file-1", "system": "be brief", "anthropic_version": "bedrock-2023-05-31",
	}
	if rt.fields != nil {
		for k := range rt.fields.allowed {
			if v, ok := values[k]; ok && rng.IntN(3) > 0 {
				m[k] = v
			}
		}
	}
	switch rng.IntN(8) {
	case 0:
		m["x_extra"] = 1
	case 1:
		m["Max_Tokens"] = 1
	case 2:
		m["models"] = []string{"evil-model"}
	case 3:
		m["plugins"] = []any{map[string]any{"id": "web"}}
	case 4:
		return []byte(`{"model":"` + model + `","messages":[`), "application/json"
	}
	b, _ := json.Marshal(m)
	return b, "application/json"
}

func genQuery(rng *rand.Rand) string {
	return []string{"", "", "?fields=candidates", "?%24fields=x&alt=sse", "?key=abc", "?limit=2&evil=1", "?api-version=2024-10-21"}[rng.IntN(7)]
}

// genHeaders adds headers a client may send; it returns those that must
// never reach any upstream.
func genHeaders(rng *rand.Rand, req *http.Request) []string {
	var junk []string
	add := func(k, v string, bad bool) {
		req.Header.Set(k, v)
		if bad {
			junk = append(junk, k)
		}
	}
	if rng.IntN(2) == 0 {
		add("X-Evil", "1", true)
	}
	if rng.IntN(3) == 0 {
		add("Openai-Organization", "org-evil", true)
	}
	if rng.IntN(3) == 0 {
		add("X-Goog-Fieldmask", "candidates", true)
	}
	if rng.IntN(4) == 0 {
		add("Cookie", "a=b", true)
	}
	if rng.IntN(4) == 0 {
		req.Header["anthropic_beta"] = []string{"context-1m-2025-08-07"}
		junk = append(junk, "anthropic_beta")
	}
	return junk
}

// authHeader sends the token where the surface's SDK sends it.
func authHeader(req *http.Request, s *surface, tok string) {
	switch s.provider {
	case "anthropic":
		req.Header.Set("X-Api-Key", tok)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	case "google":
		req.Header.Set("X-Goog-Api-Key", tok)
	case "azure-openai":
		req.Header.Set("Api-Key", tok)
	default:
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}
