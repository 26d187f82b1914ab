package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// cannedTransport answers every request from memory: the benchmarks
// measure the gateway's own work, not the network.
type cannedTransport struct {
	ct   string
	body []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {c.ct}, "X-Request-Id": {"req_1"}},
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       r,
	}, nil
}

var benchBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"` + strings.Repeat("You are a helpful assistant. ", 20) +
	`"},{"role":"user","content":"` + strings.Repeat("Summarise this paragraph please. ", 15) + `"}],"temperature":0.2,"max_tokens":256`

func benchResponses(b *testing.B) (jsonBody, sseBody []byte) {
	rec := httptest.NewRecorder()
	openAIJSON(rec, nil)
	jsonBody = rec.Body.Bytes()
	rec = httptest.NewRecorder()
	openAIStream(rec, httptest.NewRequest("POST", "/", strings.NewReader(`"include_usage":true`)))
	return jsonBody, rec.Body.Bytes()
}

func benchGateway(b *testing.B, ct string, resp []byte, body string) {
	f := newFixture(b, 99, func(c *Config) {
		c.Transport = cannedTransport{ct: ct, body: resp}
		c.Usage = discardRecorder{}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		f.gw.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkBareProxy is the baseline: httputil.ReverseProxy alone over
// the same in-memory upstream.
func BenchmarkBareProxy(b *testing.B) {
	jsonResp, _ := benchResponses(b)
	u, _ := url.Parse("http://upstream.test")
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		FlushInterval: -1,
		Transport:     cannedTransport{ct: "application/json", body: jsonResp},
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(benchBody+"}"))
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, req)
	}
}

// BenchmarkGatewayJSON: authenticate, authorize, price, key, forward and
// meter a non-streamed chat completion.
func BenchmarkGatewayJSON(b *testing.B) {
	jsonResp, _ := benchResponses(b)
	benchGateway(b, "application/json", jsonResp, benchBody+"}")
}

// BenchmarkGatewayStream: the same for a stream the gateway asked usage
// for and hides the usage chunk of.
func BenchmarkGatewayStream(b *testing.B) {
	_, sseResp := benchResponses(b)
	benchGateway(b, "text/event-stream", sseResp, benchBody+`,"stream":true}`)
}

// BenchmarkStages runs only the stages before forwarding.
func BenchmarkStages(b *testing.B) {
	f := newFixture(b, 98, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(benchBody+"}"))
		req.Header.Set("Authorization", "Bearer "+f.token)
		x := &exchange{w: httptest.NewRecorder(), r: req, route: &route{surface: openAI, operation: "chat", usage: chatUsage}}
		for _, s := range f.gw.stages {
			if err := s.serve(x); err != nil {
				b.Fatal(err)
			}
		}
	}
}

type discardRecorder struct{}

func (discardRecorder) RecordUsage(context.Context, UsageRecord) error { return nil }

// BenchmarkMeter reads usage from a whole response, as the proxy copies it.
func BenchmarkMeter(b *testing.B) {
	jsonResp, sseResp := benchResponses(b)
	antRec := httptest.NewRecorder()
	anthropicStream(antRec, nil)
	gemRec := httptest.NewRecorder()
	geminiSSE(gemRec, nil)
	var converse bytes.Buffer
	for i := 0; i < 40; i++ {
		converse.Write(eventStreamBytes(b, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello there, how are you"}}`))
	}
	converse.Write(eventStreamBytes(b, "metadata", `{"usage":{"inputTokens":100,"outputTokens":30}}`))
	for _, tc := range []struct {
		name   string
		s      *usageShape
		mode   int
		hiding bool
		body   []byte
	}{
		{"openai-json", chatUsage, modeJSON, false, jsonResp},
		{"openai-stream-hiding", chatUsage, modeSSE, true, sseResp},
		{"anthropic-stream", messagesUsage, modeSSE, false, antRec.Body.Bytes()},
		{"gemini-stream", geminiUsage, modeSSE, false, gemRec.Body.Bytes()},
		{"bedrock-converse-stream", converseUsage, modeFrames, false, converse.Bytes()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x := &exchange{route: &route{usage: tc.s}, r: httptest.NewRequest("POST", "/", nil)}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m := &meter{x: x, hideUsageChunk: tc.hiding}
				m.once.Do(func() {})
				mb := &meteredBody{rc: io.NopCloser(bytes.NewReader(tc.body)), m: m, mode: tc.mode, hiding: tc.hiding}
				mb.es.only = tc.s.frameTypes
				for {
					if _, err := mb.Read(buf); err != nil {
						break
					}
				}
				if !m.haveUsage {
					b.Fatal("no usage")
				}
			}
		})
	}
}

func BenchmarkParseRequest(b *testing.B) {
	body := []byte(benchBody + `,"stream":true}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMultipart reads the model of a transcription upload with
// a 1 MB file part ahead of it.
func BenchmarkParseMultipart(b *testing.B) {
	ct, body := form([2]string{"file", strings.Repeat("a", 1<<20)}, [2]string{"model", "whisper-1"})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f, err := parseMultipart(body, ct); err != nil || f.Model != "whisper-1" {
			b.Fatal(err)
		}
	}
}
