package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aicred/aicred/broker"
)

// surfaceCase is one provider surface as a client calls it, with a held
// key of its kind.
type surfaceCase struct {
	name, provider, kind string
	secret               string
	path, tokenHeader    string
	body                 string
}

func surfaceCases() []surfaceCase {
	g := nil2gen(900)
	aws := "AKIA" + g.Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) + ":" + g.B64(40) + ":" + "IQoJb3JpZ2luX2Vj" + g.B64(120)
	bedrock := "/bedrock/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
	msg := `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":5}}`
	return []surfaceCase{
		{"openai", "openai", "project-key", "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74), "/v1/chat/completions", "Authorization", `{"model":"gpt-4o-mini","messages":[]}`},
		{"anthropic", "anthropic", "api-key", "sk-ant-api03-" + g.URL64(93) + "AA", "/v1/messages", "X-Api-Key", `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[]}`},
		{"gemini", "google", "gemini-key", "AIza" + g.URL64(35), "/gemini/v1beta/models/gemini-2.5-flash:generateContent", "X-Goog-Api-Key", `{"contents":[{"parts":[{"text":"hi"}]}]}`},
		{"azure", "azure-openai", "api-key", g.Alnum(84), "/azure/openai/deployments/prod/chat/completions?api-version=2024-10-21", "Api-Key", `{"messages":[]}`},
		{"bedrock-sigv4", "aws", "access-key-id", aws, bedrock, "Authorization", msg},
		{"bedrock-bearer", "aws", "bedrock-api-key", "ABSK" + g.B64(128), bedrock, "Authorization", msg},
	}
}

// surfaceFixture is a gateway with only sc's held key, every provider
// pointed at h, and a token for sc's provider and any model.
func surfaceFixture(t *testing.T, sc surfaceCase, h http.HandlerFunc, role *broker.Role) (*fixture, string) {
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	f := newFixture(t, 901, func(c *Config) {
		for _, p := range []string{"openai", "anthropic", "google", "azure-openai", "aws"} {
			c.Upstreams[p] = up.URL
		}
		c.Unpriced = &Price{Input: 1, Output: 1, Source: "test", AsOf: "2026-11-26"}
		if role != nil {
			c.Roles = func(name string) (*broker.Role, bool) { return role, true }
		}
	})
	f.creds = nil
	f.addHeld(t, "hc_case", sc.provider, sc.kind, sc.secret)
	tok, _ := f.issue(t, nil2gen(902), []string{"chat", "provider:" + sc.provider, "model:*"})
	return f, tok
}

// newRequest is sc's call with the token in sc's header.
func (sc surfaceCase) newRequest(t *testing.T, base, tok string) *http.Request {
	req, err := http.NewRequest("POST", base+sc.path, strings.NewReader(sc.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sc.tokenHeader == "Authorization" {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else {
		req.Header.Set(sc.tokenHeader, tok)
	}
	return req
}

// recorder is a fake upstream keeping the last request's headers and
// trailers.
type recorder struct {
	mu              sync.Mutex
	header, trailer http.Header
	calls           int
}

func (rc *recorder) handler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body) // the trailers arrive after the body
	rc.mu.Lock()
	rc.header, rc.trailer, rc.calls = r.Header.Clone(), r.Trailer.Clone(), rc.calls+1
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

func (rc *recorder) last() (http.Header, http.Header, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.header, rc.trailer, rc.calls
}

// Per surface: the documented headers reach the provider as sent;
// unknown ones, '_' and case variants of allowed ones, the client's own
// credentials and signing headers, and trailers never do.
func TestHeaderAllowList(t *testing.T) {
	stainless := map[string]string{"X-Stainless-Lang": "go", "X-Stainless-Retry-Count": "0", "X-Stainless-Timeout": "600", "User-Agent": "sdk/1", "Accept": "application/json"}
	allowed := map[string]map[string]string{
		"openai":         {"Idempotency-Key": "idem-1", "X-Client-Request-Id": "cr-1"},
		"anthropic":      {"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "prompt-caching-2024-07-31"},
		"gemini":         {"X-Goog-Api-Client": "genai-go/1.0"},
		"azure":          {"X-Ms-Client-Request-Id": "cr-2"},
		"bedrock-sigv4":  {"X-Amzn-Bedrock-Trace": "ENABLED", "Amz-Sdk-Invocation-Id": "inv-1"},
		"bedrock-bearer": {"X-Amzn-Bedrock-Accept": "application/json"},
	}
	never := map[string]string{
		"X-Evil": "1", "Cookie": "a=b", "X-Http-Method-Override": "DELETE", "Openai-Organization": "org-x",
		"Openai-Beta": "assistants=v2", "X-Amz-Date": "20200101T000000Z", "X-Amz-Security-Token": "client",
		"X-Forwarded-For": "10.0.0.1", "Accept-Encoding": "br", "Range": "bytes=0-1", "X-Goog-Fieldmask": "candidates",
		"Te": "trailers", "Forwarded": "for=1.2.3.4",
	}
	variants := map[string]string{"anthropic_beta": "files-api-2025-04-14", "Anthropic_Beta": "x", "ANTHROPIC_VERSION": "2023-06-01", "x_amzn_bedrock_trace": "ENABLED", "Idempotency_Key": "i"}
	for _, sc := range surfaceCases() {
		t.Run(sc.name, func(t *testing.T) {
			rc := &recorder{}
			f, tok := surfaceFixture(t, sc, rc.handler, nil)
			req := sc.newRequest(t, f.srv.URL, tok)
			expect := []map[string]string{allowed[sc.name]}
			if sc.name == "openai" || sc.name == "anthropic" || sc.name == "azure" {
				expect = append(expect, stainless) // their SDKs' telemetry
			}
			for _, m := range []map[string]string{stainless, allowed[sc.name], never} {
				for k, v := range m {
					req.Header.Set(k, v)
				}
			}
			for k, v := range variants {
				req.Header[k] = []string{v} // sent as spelled
			}
			// A chunked body with trailers, one of them a billed beta.
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(sc.body)), -1
			req.Trailer = http.Header{"Anthropic-Beta": {"context-1m-2025-08-07"}, "X-Amzn-Bedrock-Service-Tier": {"priority"}}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			h, tr, _ := rc.last()
			for _, m := range expect {
				for k, v := range m {
					if got := h.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("allowed %s: upstream got %q, want %q", k, got, v)
					}
				}
			}
			for k := range h {
				if v, ok := never[k]; ok && k != "Accept-Encoding" && h.Get(k) == v {
					// (Bedrock's signer sets its own X-Amz-Date.)
					t.Errorf("upstream got the client's %s", k)
				}
				if strings.Contains(k, "_") || k == "Trailer" || k == "Api-Key" && sc.name != "azure" {
					t.Errorf("upstream got %s", k)
				}
			}
			if ae := h.Get("Accept-Encoding"); ae != "" && ae != "gzip" {
				t.Errorf("upstream Accept-Encoding %q: the client's passed", ae)
			}
			if len(tr) != 0 {
				t.Errorf("upstream got trailers %v", tr)
			}
			if got := h.Values("Anthropic-Beta"); sc.name == "anthropic" && len(got) != 1 {
				t.Errorf("Anthropic-Beta upstream %q: a variant or trailer passed", got)
			}
		})
	}
}

// Gated headers (a dearer tier, a feature billed apart) are refused in
// every spelling, without echoing the value, unless the role allows
// the name; then the canonical spelling passes (and on Bedrock is
// signed with it).
func TestHeaderGated(t *testing.T) {
	cases := surfaceCases()
	byName := map[string]surfaceCase{}
	for _, sc := range cases {
		byName[sc.name] = sc
	}
	const secretValue = "VALUE-MUST-NOT-ECHO"
	for _, tc := range []struct {
		surface, header, value, allow string
		// authorize's own context-1m check (not this stage's) refuses it
		// whatever the role allows.
		stillRefused bool
	}{
		{"bedrock-sigv4", "X-Amzn-Bedrock-Service-Tier", "priority", "x-amzn-bedrock-service-tier", false},
		{"bedrock-sigv4", "x_amzn_bedrock_service_tier", "priority", "X_AMZN_BEDROCK_SERVICE_TIER", false},
		{"bedrock-bearer", "X-Amzn-Bedrock-PerformanceConfig-Latency", "optimized", "x-amzn-bedrock-performanceconfig-latency", false},
		{"bedrock-bearer", "X-Amzn-Bedrock-GuardrailIdentifier", "gr-1", "x-amzn-bedrock-guardrailidentifier", false},
		{"anthropic", "Anthropic-Beta", "prompt-caching-2024-07-31,context-1m-2025-08-07", "anthropic-beta", true},
		{"anthropic", "anthropic_beta", "Context-1M-2025-08-07", "anthropic-beta", true},
		{"anthropic", "ANTHROPIC-BETA", "fast-mode-2026-02-01", "anthropic-beta", false},
		{"anthropic", "Anthropic-Workspace-Id", "wrkspc_1", "anthropic-workspace-id", false},
		{"gemini", "X-Goog-User-Project", "other-project", "x-goog-user-project", false},
	} {
		sc := byName[tc.surface]
		t.Run(tc.surface+"/"+tc.header, func(t *testing.T) {
			// Refused: no role, a role that allows something else.
			for _, role := range []*broker.Role{nil, {Name: "chat-role", Allow: broker.Allowances{Headers: []string{"x-other"}}}} {
				rc := &recorder{}
				f, tok := surfaceFixture(t, sc, rc.handler, role)
				req := sc.newRequest(t, f.srv.URL, tok)
				req.Header[tc.header] = []string{tc.value + ";" + secretValue}
				if tc.surface == "anthropic" {
					// Repeated: the gated value in the second line.
					req.Header[tc.header] = []string{"prompt-caching-2024-07-31", tc.value + ";" + secretValue}
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if _, _, calls := rc.last(); resp.StatusCode != http.StatusForbidden || calls != 0 {
					t.Fatalf("role %v: %d (upstream calls %d) %s", role, resp.StatusCode, calls, b)
				}
				if strings.Contains(string(b), secretValue) || !strings.Contains(string(b), "header") {
					t.Errorf("refusal %s", b)
				}
			}
			if tc.stillRefused {
				return
			}
			// Allowed by the role: the canonical spelling reaches the
			// provider; a variant spelling is still not forwarded.
			rc := &recorder{}
			var seen seenRequest
			var mu sync.Mutex
			f, tok := surfaceFixture(t, sc, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				seen = seenRequest{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), body}
				mu.Unlock()
				rc.handler(w, r)
			}, &broker.Role{Name: "chat-role", Allow: broker.Allowances{Headers: []string{tc.allow}}})
			req := sc.newRequest(t, f.srv.URL, tok)
			req.Header[tc.header] = []string{tc.value}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("allowed: %d %s", resp.StatusCode, b)
			}
			h, _, _ := rc.last()
			canon := http.CanonicalHeaderKey(tc.header)
			// Case alone does not make another name; '_' does.
			if !strings.Contains(tc.header, "_") {
				if got := h.Get(canon); got != tc.value {
					t.Errorf("allowed %s: upstream got %q", canon, got)
				}
			} else if len(h) > 0 && strings.Contains(strings.ToLower(headerText(h)), strings.ToLower(tc.value)) {
				t.Errorf("variant %s reached the upstream", tc.header)
			}
			if tc.surface == "bedrock-sigv4" {
				id, secret, _ := strings.Cut(sc.secret, ":")
				secret, session, _ := strings.Cut(secret, ":")
				host := strings.TrimPrefix(strings.TrimPrefix(f.gw.upstreams["aws"].String(), "http://"), "")
				mu.Lock()
				ok := verifySigV4(seen, host, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: session}, "us-east-1")
				signed := strings.Contains(seen.header.Get("Authorization"), strings.ToLower(canon))
				mu.Unlock()
				if !ok || (!strings.Contains(tc.header, "_") && !signed) {
					t.Errorf("SigV4 after filtering: valid %v, %s signed %v", ok, canon, signed)
				}
			}
		})
	}
}

func TestHeaderRefusalName(t *testing.T) {
	if got := safeHeaderName("X-Ok_1\r\nEvil: " + strings.Repeat("a", 100)); strings.ContainsAny(got, "\r\n: ") || len(got) > 70 {
		t.Errorf("safeHeaderName = %q", got)
	}
}
