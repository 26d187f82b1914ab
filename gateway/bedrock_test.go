package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// verifySigV4 re-signs what the upstream received with the same key and
// time and compares signatures: the request was signed for service
// bedrock in region with creds, and nothing signed changed on the way.
func verifySigV4(r seenRequest, host string, creds aws.Credentials, region string) bool {
	auth := r.header.Get("Authorization")
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/") {
		return false
	}
	signed, _, _ = strings.Cut(signed, ",")
	when, err := time.Parse("20060102T150405Z", r.header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	uri := r.path
	if r.rawPath != "" {
		uri = r.rawPath
	}
	if r.query != "" {
		uri += "?" + r.query
	}
	req := httptest.NewRequest(r.method, "http://"+host+uri, bytes.NewReader(r.body))
	req.Header = http.Header{}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.header.Values(h)
		}
	}
	sum := sha256.Sum256(r.body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "bedrock", region, when); err != nil {
		return false
	}
	return req.Header.Get("Authorization") == auth
}

// eventStream encodes AWS event-stream messages.
func eventStream(t *testing.T, events ...[2]string) []byte {
	var b []byte
	for _, e := range events {
		b = append(b, eventStreamBytes(t, e[0], e[1])...)
	}
	return b
}

func eventStreamBytes(t testing.TB, eventType, payload string) []byte {
	var b bytes.Buffer
	m := eventstream.Message{Payload: []byte(payload)}
	m.Headers.Set(":event-type", eventstream.StringValue(eventType))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func invokeChunkJSON(event string) string {
	return `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(event)) + `"}`
}

func TestBedrock(t *testing.T) {
	const model = "anthropic.claude-haiku-4-5-20251001-v1:0"
	converseStream := eventStream(t,
		[2]string{"messageStart", `{"role":"assistant"}`},
		[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`},
		[2]string{"messageStop", `{"stopReason":"end_turn"}`},
		[2]string{"metadata", `{"usage":{"inputTokens":100,"outputTokens":30,"totalTokens":130},"metrics":{"latencyMs":9}}`})
	invokeStream := eventStream(t,
		[2]string{"chunk", invokeChunkJSON(`{"type":"message_start","message":{"usage":{"input_tokens":70,"output_tokens":1}}}`)},
		[2]string{"chunk", invokeChunkJSON(`{"type":"message_delta","usage":{"output_tokens":15}}`)},
		[2]string{"chunk", invokeChunkJSON(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":70,"outputTokenCount":15,"invocationLatency":5}}`)})
	up := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Requestid", "req-bedrock")
		switch {
		case strings.HasSuffix(r.URL.Path, "/converse"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":100,"outputTokens":20,"totalTokens":120,"cacheReadInputTokens":50}}`)
		case strings.HasSuffix(r.URL.Path, "/converse-stream"):
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
			w.Write(converseStream)
		case strings.HasSuffix(r.URL.Path, "/invoke-with-response-stream"):
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
			w.Write(invokeStream)
		case r.Header.Get("X-Amzn-Bedrock-Trace") == "DISABLED": // the test's switch: an allowed header
			// Bedrock takes anthropic_version in the body; the header
			// is not forwarded, so the fake Anthropic answer gets one.
			r.Header.Set("Anthropic-Version", "bedrock-2023-05-31")
			anthropicJSON(w, r)
		default:
			w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", "50")
			w.Header().Set("X-Amzn-Bedrock-Output-Token-Count", "10")
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"content":[{"type":"text","text":"Hi"}]}`)
		}
	})
	f := newFixture(t, 70, func(c *Config) {
		c.Upstreams["aws"] = up.URL
		c.BedrockRegion = "eu-west-1"
		c.Prices, _ = ParsePrices([]byte(`{"models":[{"provider":"aws","model":"` + model + `","input":1,"output":5,"cached_input":0.1,"cache_write":1.25,"source":"test","as_of":"2026-11-26"}]}`))
	})
	g := nil2gen(71)
	creds := aws.Credentials{AccessKeyID: "AKIA" + g.Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16), SecretAccessKey: g.B64(40)}
	f.addHeld(t, "hc_aws", "aws", "access-key-id", creds.AccessKeyID+":"+creds.SecretAccessKey)
	tok, _ := f.issue(t, g, []string{"chat", "provider:aws", "model:anthropic.claude-haiku-4-5*"})
	send := func(path string, h map[string]string) (int, http.Header, []byte) {
		body := `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"max_tokens":100}`
		if strings.Contains(path, "/converse") {
			body = `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":100}}`
		}
		req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok) // AWS_BEARER_TOKEN_BEDROCK
		req.Header.Set("X-Amz-Date", "20200101T000000Z")
		req.Header.Set("X-Amz-Security-Token", "client-session")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	esc := "/bedrock/model/anthropic.claude-haiku-4-5-20251001-v1%3A0"
	for _, tc := range []struct {
		path   string
		h      map[string]string
		stream []byte
		cost   float64
	}{
		{esc + "/converse", nil, nil, (100*1 + 50*0.1 + 20*5) / 1e6},
		{esc + "/converse-stream", nil, converseStream, (100*1 + 30*5) / 1e6},
		{esc + "/invoke", nil, nil, (50*1 + 10*5) / 1e6},
		{esc + "/invoke", map[string]string{"X-Amzn-Bedrock-Trace": "DISABLED"}, nil, (2000*1 + 100*1.25 + 400*0.1 + 500*5) / 1e6},
		{esc + "/invoke-with-response-stream", nil, invokeStream, (70*1 + 15*5) / 1e6},
	} {
		n := len(f.usage.Records())
		st, _, body := send(tc.path, tc.h)
		if st != 200 {
			t.Fatalf("%s: %d %s", tc.path, st, body)
		}
		if tc.stream != nil && !bytes.Equal(body, tc.stream) {
			t.Errorf("%s: the event stream changed on the way", tc.path)
		}
		r := up.last(t)
		wantPath := strings.TrimPrefix(tc.path, "/bedrock")
		if r.rawPath != wantPath || r.header.Get("X-Amz-Security-Token") != "" || !verifySigV4(r, strings.TrimPrefix(up.URL, "http://"), creds, "eu-west-1") {
			t.Errorf("%s: upstream got %s, signature valid %v", tc.path, r.rawPath, verifySigV4(r, strings.TrimPrefix(up.URL, "http://"), creds, "eu-west-1"))
		}
		rec := f.waitRecords(t, n+1)[n]
		if rec.Provider != "aws" || rec.Model != model || !near(rec.CostUSD, tc.cost) || rec.Estimated || rec.Outcome != OutcomeOK || rec.UpstreamRequestID != "req-bedrock" {
			t.Errorf("%s: record %+v, want cost %g", tc.path, rec, tc.cost)
		}
	}
	// Another key would not verify: the check has teeth.
	if verifySigV4(up.last(t), strings.TrimPrefix(up.URL, "http://"), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: g.B64(40)}, "eu-west-1") {
		t.Fatal("signature verified with the wrong secret")
	}
	calls := up.calls()
	st, h, body := send("/bedrock/model/anthropic.claude-opus-4-1-v1%3A0/converse", nil)
	var e struct{ Message string }
	if st != 403 || h.Get("X-Amzn-Errortype") != "AccessDeniedException" || json.Unmarshal(body, &e) != nil || e.Message == "" {
		t.Fatalf("refusal: %d %v %s", st, h, body)
	}
	if up.calls() != calls {
		t.Fatal("a refused request reached Bedrock")
	}
}

// A Bedrock API key is sent as a Bearer token, unsigned; a malformed key
// pair is not usable.
func TestBedrockAPIKeyAndBadPair(t *testing.T) {
	up := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"inputTokens":1,"outputTokens":1}}`)
	})
	f := newFixture(t, 72, func(c *Config) {
		c.Upstreams["aws"] = up.URL
		c.Unpriced = &Price{Input: 1, Output: 1, Source: "test", AsOf: "2026-11-26"}
	})
	g := nil2gen(73)
	f.addHeld(t, "hc_bad", "aws", "access-key-id", "AKIA-without-secret")
	bad, _ := f.issue(t, g, []string{"chat", "provider:aws", "model:*"})
	if st, body := f.post(t, "/bedrock/model/amazon.nova-lite-v1:0/converse", bad, `{}`); st != 403 {
		t.Fatalf("bad pair: %d %s", st, body)
	}
	key := "ABSK" + g.B64(120)
	f.addHeld(t, "hc_bedrock_key", "aws", "bedrock-api-key", key)
	tok, _ := f.issue(t, g, []string{"chat", "provider:aws", "model:*"})
	if st, body := f.post(t, "/bedrock/model/amazon.nova-lite-v1:0/converse", tok, `{}`); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if r := up.last(t); r.header.Get("Authorization") != "Bearer "+key || r.path != "/model/amazon.nova-lite-v1:0/converse" {
		t.Fatalf("upstream got %s", r.path)
	}
}

func FuzzBedrockUsage(f *testing.F) {
	f.Add([]byte(`{"usage":{"inputTokens":3,"outputTokens":4,"cacheReadInputTokens":1}}`), "metadata", []byte{5})
	f.Add([]byte(invokeChunkJSON(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":2}}`)), "chunk", []byte{1, 2})
	f.Fuzz(func(t *testing.T, payload []byte, eventType string, sizes []byte) {
		if u, ok := parseConverseUsage(payload); ok && (u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedTokens < 0) {
			t.Fatalf("negative usage %+v", u)
		}
		// The stream scanner meters the same whatever the pieces.
		var b bytes.Buffer
		m := eventstream.Message{Payload: payload}
		m.Headers.Set(":event-type", eventstream.StringValue(eventType))
		if eventstream.NewEncoder().Encode(&b, m) != nil {
			return
		}
		stream := append(bytes.Clone(b.Bytes()), b.Bytes()...)
		meterAll := func(sizes []byte) (Usage, bool) {
			mt := &meter{x: &exchange{route: &route{}}}
			var s eventStreamScanner
			fn := func(typ string, p []byte) {
				converseUsage.frame(mt, typ, p)
				invokeChunk(mt, typ, p)
			}
			in := stream
			for i := 0; len(in) > 0; i++ {
				n := len(in)
				if len(sizes) > 0 {
					n = min(n, int(sizes[i%len(sizes)])+1)
				}
				s.feed(in[:n], fn)
				in = in[n:]
			}
			return mt.usage, mt.haveUsage
		}
		u1, ok1 := meterAll(nil)
		u2, ok2 := meterAll(sizes)
		if u1 != u2 || ok1 != ok2 {
			t.Fatalf("whole %+v %v, split %+v %v", u1, ok1, u2, ok2)
		}
	})
}
