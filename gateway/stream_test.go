package gateway

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each event reaches the client as soon as the upstream sends it, in both
// the pass-through and the hiding mode.
func TestStreamFlushedAtOnce(t *testing.T) {
	for _, tc := range []struct{ path, body, first string }{
		{"/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":5,"stream":true}`,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"},
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true}`,
			"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n"},
	} {
		f := newFixture(t, 50, nil)
		release := make(chan struct{})
		h := func(w http.ResponseWriter, r *http.Request) {
			sse(w, tc.first)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		f.openai, f.anthropic = h, h
		req, _ := http.NewRequest("POST", f.srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if !strings.HasPrefix(tc.first, line) {
				t.Errorf("%s: first line %q", tc.path, line)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("%s: first event held back", tc.path)
		}
		close(release)
		resp.Body.Close()
	}
}

// An upstream that drops the stream before any usage is charged the
// worst-case estimate, never $0.
func TestStreamCutBeforeUsage(t *testing.T) {
	f := newFixture(t, 51, nil)
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		sse(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel")
		panic(http.ErrAbortHandler) // cut the connection mid-event
	}
	st, _ := f.post(t, "/v1/messages", f.token, `{"model":"claude-haiku-4-5","max_tokens":700,"stream":true}`)
	if st != 200 {
		t.Fatal(st)
	}
	r := f.waitRecords(t, 1)[0]
	if r.Outcome != OutcomeNoUsage || !r.Estimated || r.Usage != (Usage{InputTokens: 3, OutputTokens: 700}) || r.CostUSD <= 0 {
		t.Fatalf("record %+v", r)
	}
}

// Concurrent SDK-shaped requests each get exactly one record with their
// own numbers.
func TestConcurrentRequestsOneRecordEach(t *testing.T) {
	f := newFixture(t, 52, nil)
	f.openai, f.anthropic = openAIStream, anthropicStream
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true}`
			if i%2 == 1 {
				path, body = "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":9,"stream":true}`
			}
			if st, b := f.post(t, path, f.token, body); st != 200 || strings.Contains(b, `"include_usage"`) {
				t.Errorf("%d %s", st, b)
			}
		}()
	}
	wg.Wait()
	recs := f.waitRecords(t, n)
	var oai, ant int
	for _, r := range recs {
		switch {
		case r.Provider == "openai" && r.Usage == (Usage{InputTokens: 1000, OutputTokens: 50}) && r.Outcome == OutcomeOK:
			oai++
		case r.Provider == "anthropic" && r.Usage == (Usage{InputTokens: 3000, CachedTokens: 1000, OutputTokens: 90}) && r.Outcome == OutcomeOK:
			ant++
		default:
			t.Errorf("record %+v", r)
		}
	}
	if oai != n/2 || ant != n/2 {
		t.Fatalf("openai %d anthropic %d", oai, ant)
	}
}

// Servers may end SSE lines with CRLF; metering reads them the same.
func TestAnthropicStreamCRLF(t *testing.T) {
	f := newFixture(t, 53, nil)
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		anthropicStream(rec, r)
		sse(w, strings.ReplaceAll(rec.Body.String(), "\n", "\r\n"))
	}
	st, body := f.post(t, "/v1/messages", f.token, `{"model":"claude-haiku-4-5","max_tokens":9,"stream":true}`)
	if st != 200 || !strings.Contains(body, "\r\n\r\n") {
		t.Fatalf("%d %q", st, body)
	}
	if r := f.waitRecords(t, 1)[0]; r.Usage != (Usage{InputTokens: 3000, CachedTokens: 1000, OutputTokens: 90}) || r.Outcome != OutcomeOK {
		t.Fatalf("record %+v", r)
	}
}

// A stream that stalls past StreamIdleTimeout is cut, the upstream request
// cancelled, and the record says upstream_timeout.
func TestStreamIdleTimeout(t *testing.T) {
	f := newFixture(t, 54, func(c *Config) { c.StreamIdleTimeout = 150 * time.Millisecond })
	cancelled := make(chan struct{})
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		sse(w, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n")
		<-r.Context().Done()
		close(cancelled)
	}
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini","stream":true,"max_tokens":10}`)
	if st != 200 || !strings.Contains(body, `"Hi"`) {
		t.Fatalf("%d %q", st, body)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream not cancelled")
	}
	if r := f.waitRecords(t, 1)[0]; r.Outcome != OutcomeTimeout || !r.Estimated || r.Usage.OutputTokens != 10 {
		t.Fatalf("record %+v", r)
	}
}
