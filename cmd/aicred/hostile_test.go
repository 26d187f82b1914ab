package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// hostileUpstream answers as a hostile or broken provider: it reports
// huge usage, echoes the request's headers and body into its answer,
// redirects to another server with the request in the URL, streams slowly
// and leaves usage out. It remembers each call under the request id it
// answered with.
type hostileUpstream struct {
	t     *testing.T
	stray *httptest.Server

	mu     sync.Mutex
	mode   string
	n      int
	calls  map[string]hostileCall // by request id
	strays int
}

type hostileCall struct {
	provider, model string
	status          int
	reported        *aicred.Usage // usage the answer reported (status 200)
	noUsage         bool          // a 200 that reported none
	header          http.Header
	body            []byte
}

func newHostileUpstream(t *testing.T) *hostileUpstream {
	h := &hostileUpstream{t: t, calls: map[string]hostileCall{}}
	h.stray = httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		h.mu.Lock()
		h.strays++
		h.mu.Unlock()
	}))
	t.Cleanup(h.stray.Close)
	return h
}

func (h *hostileUpstream) setMode(m string) {
	h.mu.Lock()
	h.mode = m
	h.mu.Unlock()
}

func (h *hostileUpstream) answerAs(prov string) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.Unmarshal(body, &req)
		var echo bytes.Buffer
		_ = r.Header.Write(&echo)
		echo.Write(body)
		h.mu.Lock()
		h.n++
		id := fmt.Sprintf("adv-%d", h.n)
		mode := h.mode
		c := hostileCall{provider: prov, model: req.Model, header: r.Header.Clone(), body: body}
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.calls[id] = c
			h.mu.Unlock()
		}()
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Request-Id", id)
		for k, vs := range r.Header {
			w.Header()["X-Echo-"+k] = vs
		}
		in, out := int64(3_000_000), int64(900_000)
		usage := fmt.Sprintf(`"usage":{"prompt_tokens":%d,"completion_tokens":%d}`, in, out)
		if prov == "anthropic" {
			usage = fmt.Sprintf(`"usage":{"input_tokens":%d,"output_tokens":%d}`, in, out)
		}
		switch mode {
		case "redirect":
			c.status = http.StatusTemporaryRedirect
			w.Header().Set("Location", h.stray.URL+"/?req="+url.QueryEscape(echo.String()))
			w.WriteHeader(c.status)
			return
		case "echo-error":
			c.status = []int{400, 403, 429, 500, 503}[h.n%5]
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			fmt.Fprintf(w, `{"error":{"message":%q,"raw":%q}}`, echo.String(), base64.StdEncoding.EncodeToString(echo.Bytes()))
			return
		case "no-usage":
			c.status, c.noUsage = 200, true
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","echo":%q}`, echo.String())
			return
		}
		c.status, c.reported = 200, &aicred.Usage{InputTokens: in, OutputTokens: out}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","choices":[],"content":[],"echo":%q,%s}`, echo.String(), usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		delay := time.Duration(0)
		if mode == "slow" {
			delay = 40 * time.Millisecond
		}
		if prov == "anthropic" {
			fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":%d,\"output_tokens\":1}}}\n\n", in)
		}
		for i := 0; i < 6; i++ {
			time.Sleep(delay)
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", echo.String()[i*7:i*7+7])
			fl.Flush()
		}
		if prov == "anthropic" {
			fmt.Fprintf(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":%d}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", out)
			return
		}
		fmt.Fprintf(w, "data: {\"choices\":[],%s}\n\ndata: [DONE]\n\n", usage)
	}
}

// The hostile-client suite: `aicred serve` as a whole, in front of a
// hostile upstream, driven by clients that send what the API references
// allow and what they do not, hang up, and race. Whatever happens:
// recorded cost is at least what the upstream's usage costs (or the
// sound bound when it reported none), no byte of a held key reaches a
// client, nothing out of scope reaches the upstream, no redirect is
// followed.
func TestHostileClientsAgainstServe(t *testing.T) {
	adv := newHostileUpstream(t)
	e := startServeWith(t, 90, serveOpts{
		gatewayYAML: func(o, a string) string {
			return fmt.Sprintf("  upstreams:\n    openai: %s\n    anthropic: %s\n  max_body_bytes: 65536\n  upstream_timeout: 10s\n  drain_timeout: 2s", o, a)
		},
		openaiAns: adv.answerAs("openai"), anthropicAns: adv.answerAs("anthropic"),
	})
	var forms []string
	for _, k := range e.held {
		forms = append(forms, k, base64.StdEncoding.EncodeToString([]byte(k)))
	}
	rng := rand.New(rand.NewPCG(91, 92))
	type sent struct {
		body  string
		junk  []string
		model string
	}
	mutations := []func(prov, model string) sent{
		func(p, m string) sent { return sent{body: chatBody(p, m, false, "")} },
		func(p, m string) sent { return sent{body: chatBody(p, m, true, "")} },
		func(p, m string) sent { return sent{body: chatBody(p, m, false, `,"x_extra":1`)} },
		func(p, m string) sent { return sent{body: chatBody(p, m, false, `,"Max_Tokens":1`)} },
		func(p, m string) sent { return sent{body: chatBody(p, m, false, `,"mod\u0065ls":["gpt-4o"]`)} },
		func(p, m string) sent { return sent{body: chatBody(p, "gpt-4o", false, ""), model: "gpt-4o"} },
		func(p, m string) sent {
			return sent{body: chatBody(p, m, false, ""), junk: []string{"X-Evil", "Openai-Organization", "anthropic_beta"}}
		},
		func(p, m string) sent {
			return sent{body: chatBody(p, m, false, `,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]}]`)}
		},
		func(p, m string) sent { return sent{body: `{"model":"` + m + `","messages":[`} },
	}
	modes := []string{"huge", "huge", "echo-error", "redirect", "no-usage", "slow"}
	var mu sync.Mutex
	var clientSaw bytes.Buffer
	do := func(prov, mode string, hangUp bool, s sent) {
		adv.setMode(mode)
		path, auth := "/v1/chat/completions", "Authorization"
		if prov == "anthropic" {
			path, auth = "/v1/messages", "X-Api-Key"
		}
		req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(s.body))
		req.Header.Set("Content-Type", "application/json")
		if auth == "Authorization" {
			req.Header.Set(auth, "Bearer "+e.tok)
		} else {
			req.Header.Set(auth, e.tok)
			req.Header.Set("Anthropic-Version", "2023-06-01")
		}
		for _, j := range s.junk {
			req.Header[j] = []string{"context-1m-2025-08-07"}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // a hang-up race or a refused connection: nothing to read
		}
		var got bytes.Buffer
		_ = resp.Header.Write(&got)
		if hangUp {
			buf := make([]byte, 64)
			n, _ := resp.Body.Read(buf)
			got.Write(buf[:n])
		} else {
			_, _ = io.Copy(&got, resp.Body)
		}
		resp.Body.Close()
		mu.Lock()
		clientSaw.Write(got.Bytes())
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range 120 {
		prov := []string{"openai", "anthropic"}[rng.IntN(2)]
		model := map[string]string{"openai": oaiModel, "anthropic": antModel}[prov]
		s := mutations[rng.IntN(len(mutations))](prov, model)
		mode, hang := modes[rng.IntN(len(modes))], rng.IntN(4) == 0
		if i%3 == 0 {
			// Some race: several requests in flight, modes shared.
			wg.Add(1)
			go func() { defer wg.Done(); do(prov, mode, hang, s) }()
			continue
		}
		do(prov, mode, hang, s)
	}
	wg.Wait()
	time.Sleep(2500 * time.Millisecond) // drains of hung-up streams end
	res := e.stop()
	if res.code != exitOK {
		t.Fatalf("serve exit %d: %s", res.code, res.stderr)
	}
	assertNoLeak(t, "what clients saw", forms, clientSaw.String())
	assertNoLeak(t, "server log", append(forms, e.tok), res.stderr)

	adv.mu.Lock()
	defer adv.mu.Unlock()
	if adv.strays != 0 {
		t.Fatalf("a redirect was followed (%d calls to the other server)", adv.strays)
	}
	for id, c := range adv.calls {
		whole := headerText(c.header) + string(c.body)
		for _, bad := range []string{provider.TokenPrefixWorkload, "x_extra", "Max_Tokens", "X-Evil", "org-evil", "Anthropic_beta"} {
			if strings.Contains(whole, bad) {
				t.Fatalf("%s: %q reached the upstream", id, bad)
			}
		}
		if c.model != oaiModel && c.model != antModel {
			t.Fatalf("%s: model %q outside the scope reached the upstream", id, c.model)
		}
	}

	st, err := sqlite.Open(context.Background(), os.Getenv("AICRED_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListUsage(context.Background(), aicred.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]aicred.UsageRecord{}
	for _, r := range recs {
		byID[r.UpstreamRequestID] = r
	}
	prices := gateway.DefaultPrices()
	checked := 0
	for id, c := range adv.calls {
		r, ok := byID[id]
		if !ok {
			t.Fatalf("%s (%s, status %d) reached the upstream but has no usage record", id, c.provider, c.status)
		}
		p, _ := prices.Lookup(c.provider, c.model)
		switch {
		case c.reported != nil:
			if want := p.Cost(*c.reported); r.CostUSD+1e-9 < want {
				t.Fatalf("%s: recorded $%.4f, the upstream's usage costs $%.4f (%+v)", id, r.CostUSD, want, r)
			}
			checked++
		case c.noUsage:
			if want := p.Cost(aicred.Usage{InputTokens: p.ContextWindow}); r.CostUSD+1e-9 < want || !r.Estimated {
				t.Fatalf("%s: a call without usage recorded $%.6f, below its bound $%.6f", id, r.CostUSD, want)
			}
			checked++
		}
	}
	t.Logf("%d upstream calls, %d usage records, %d checked against the upstream's figures", len(adv.calls), len(recs), checked)
	if checked < 10 {
		t.Fatalf("only %d calls checked", checked)
	}
}

func chatBody(prov, model string, stream bool, extra string) string {
	if strings.Contains(extra, `"messages"`) {
		return fmt.Sprintf(`{"model":%q,"max_tokens":50,"stream":%v%s}`, model, stream, extra)
	}
	return fmt.Sprintf(`{"model":%q,"max_tokens":50,"stream":%v,"messages":[{"role":"user","content":"hi"}]%s}`, model, stream, extra)
}

func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// Racing clients against a tight budget: together they never spend more
// than the budget plus one request's true cost.
func TestHostileBudgetRace(t *testing.T) {
	var calls sync.WaitGroup
	answer := func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls.Add(1)
		defer calls.Done()
		time.Sleep(5 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":50}}`)
	}
	const budget = 0.01
	e := startServeWith(t, 93, serveOpts{
		gatewayYAML: func(o, a string) string {
			return fmt.Sprintf("  upstreams:\n    openai: %s\n    anthropic: %s", o, a)
		},
		openaiAns: answer,
		roleYAML: `  - name: sdk-e2e
    providers: [openai, anthropic]
    credentials: [hc_e2e_openai, hc_e2e_anthropic]
    models: ["gpt-4o-mini*"]
    operations: [chat]
    ttl: 10m
    budget: {per_token_usd: 0.01}
`,
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := httpDo(t, "POST", e.base+"/v1/chat/completions", e.tok,
				strings.NewReader(chatBody("openai", oaiModel, false, "")))
			mu.Lock()
			status[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	calls.Wait()
	if res := e.stop(); res.code != exitOK {
		t.Fatalf("serve exit %d", res.code)
	}
	st, err := sqlite.Open(context.Background(), os.Getenv("AICRED_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListUsage(context.Background(), aicred.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var spent float64
	for _, r := range recs {
		spent += r.CostUSD
	}
	p, _ := gateway.DefaultPrices().Lookup("openai", oaiModel)
	one := p.Cost(aicred.Usage{InputTokens: 1000, OutputTokens: 50})
	t.Logf("statuses %v, %d records, spent $%.6f of $%.2f (one call $%.6f)", status, len(recs), spent, budget, one)
	if spent > budget+one {
		t.Fatalf("spent $%.6f against a $%.2f budget", spent, budget)
	}
	if status[http.StatusOK] == 0 || status[http.StatusTooManyRequests] == 0 {
		t.Fatalf("want some admitted and some refused: %v", status)
	}
}
