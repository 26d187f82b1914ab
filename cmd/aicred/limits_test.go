package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowOpenAIStream answers a streamed chat completion in chunks spaced
// pause apart, as a model thinking does.
func slowOpenAIStream(pause time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		_ = json.Unmarshal(body, &req)
		chunk := func(delta, finish string) string {
			return `data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":` +
				delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}` + "\n\n"
		}
		ev := []string{chunk(`{"role":"assistant","content":""}`, "null"), chunk(`{"content":"Hel"}`, "null"),
			chunk(`{"content":"lo"}`, "null"), chunk(`{}`, `"stop"`)}
		if req.StreamOptions.IncludeUsage {
			ev = append(ev, `data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`+"\n\n")
		}
		ev = append(ev, "data: [DONE]\n\n")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i, e := range ev {
			if i > 0 {
				time.Sleep(pause)
			}
			_, _ = io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	}
}

// TestServeLimits runs serve with a 1s read, read-header and write
// timeout. 50 connections that send the headers of a token request with
// Content-Length: 60000 and no body are all closed by the server within
// the read timeout (plus slack); a gateway stream lasting several times
// the read and write timeouts, with pauses longer than the write
// timeout, still completes.
func TestServeLimits(t *testing.T) {
	const timeout = time.Second
	const pause = 1500 * time.Millisecond
	slow := httptest.NewServer(slowOpenAIStream(pause))
	defer slow.Close()
	e := startServe(t, 21, func(_, antURL string) string {
		// The server section is a top-level key: dedented after the
		// gateway's.
		return fmt.Sprintf("  upstreams:\n    openai: %s\n    anthropic: %s\n  upstream_timeout: 20s\n"+
			"server:\n  read_timeout: %s\n  read_header_timeout: %s\n  write_timeout: %s\n  idle_timeout: 5s\n  max_connections: 200\n  gateway_body_timeout: 2s",
			slow.URL, antURL, timeout, timeout, timeout)
	})
	addr := strings.TrimPrefix(e.base, "http://")

	t.Run("slow bodies are cut off", func(t *testing.T) {
		const conns = 50
		const slack = 4 * time.Second
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		closedAfter := make(chan time.Duration, conns)
		for i := range conns {
			wg.Go(func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				path := "/oauth/token"
				if i%5 == 4 {
					path = "/admin/v1/revocations" // another non-streaming route
				}
				if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n", path, addr); err != nil {
					errs <- err
					return
				}
				_ = c.SetReadDeadline(start.Add(timeout + slack))
				_, err = io.Copy(io.Discard, c) // nil at EOF: the server closed
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					errs <- fmt.Errorf("connection %d still open after %v", i, time.Since(start))
					return
				}
				closedAfter <- time.Since(start)
			})
		}
		wg.Wait()
		close(errs)
		close(closedAfter)
		for err := range errs {
			t.Error(err)
		}
		var longest time.Duration
		n := 0
		for d := range closedAfter {
			longest = max(longest, d)
			n++
		}
		if n != conns {
			t.Fatalf("%d of %d connections closed by the server", n, conns)
		}
		if longest > timeout+slack {
			t.Fatalf("the last connection closed after %v", longest)
		}
		t.Logf("%d connections closed, the last after %v", n, longest)
		// The server still serves.
		if code, _ := httpDo(t, "GET", e.base+"/healthz", "", nil); code != http.StatusOK {
			t.Fatalf("healthz after the slow clients: %d", code)
		}
	})

	t.Run("slow gateway bodies are cut off", func(t *testing.T) {
		// With a token the gateway reads the body (2s to arrive); without
		// one it refuses at once and the unread body gets the read timeout.
		const conns, bodyTimeout, slack = 10, 2 * time.Second, 4 * time.Second
		start := time.Now()
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				auth := ""
				if i%2 == 0 {
					auth = "Authorization: Bearer " + e.tok + "\r\n"
				}
				fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", addr, auth)
				_ = c.SetReadDeadline(start.Add(bodyTimeout + slack))
				_, err = io.Copy(io.Discard, c)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("gateway connection %d still open after %v", i, time.Since(start))
				}
			})
		}
		wg.Wait()
		t.Logf("gateway connections closed within %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("a long stream completes", func(t *testing.T) {
		body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`
		req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tok)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("stream: %d %s", resp.StatusCode, b)
		}
		var text strings.Builder
		done := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if line == "[DONE]" {
				done = true
				continue
			}
			var ch struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(line), &ch); err != nil {
				t.Fatalf("chunk %q: %v", line, err)
			}
			if len(ch.Choices) > 0 {
				text.WriteString(ch.Choices[0].Delta.Content)
			}
		}
		took := time.Since(start)
		if err := sc.Err(); err != nil || !done || text.String() != "Hello" {
			t.Fatalf("stream after %v: %q done=%v %v", took, text.String(), done, err)
		}
		if took < 3*timeout {
			t.Fatalf("the stream took %v: not longer than the timeouts, the test proves nothing", took)
		}
		t.Logf("stream of %v completed through 1s read and write timeouts", took.Round(time.Millisecond))
	})
}

func TestServerLimitsConfig(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"negative read timeout", "server:\n  read_timeout: -1s\n", "server.read_timeout: want a positive duration"},
		{"header longer than read", "server:\n  read_timeout: 2s\n  read_header_timeout: 5s\n", "server.read_header_timeout (5s) is longer than server.read_timeout (2s)"},
		{"negative connections", "server:\n  max_connections: -3\n", "server.max_connections: want a positive integer"},
		{"tiny headers", "server:\n  max_header_bytes: 100\n", "server.max_header_bytes: at least 4096"},
		{"unknown key", "server:\n  read_timout: 2s\n", `line 2: unknown key "read_timout" in server`},
		{"not a mapping", "server: fast\n", "line 1: server must be a mapping"},
		{"negative hold", "workload_hold: -1h\n", "workload_hold -1h0m0s: want a positive duration"},
		{"hold too long", "workload_hold: 9000h\n", "workload_hold 9000h0m0s: want a positive duration of at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseServerConfig([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	cfg, err := parseServerConfig([]byte("listen: 127.0.0.1:0\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Server
	if l.ReadTimeout != 30*time.Second || l.ReadHeaderTimeout != 10*time.Second || l.WriteTimeout != 30*time.Second ||
		l.IdleTimeout != 2*time.Minute || l.GatewayBodyTimeout != 5*time.Minute || l.MaxHeaderBytes != 64<<10 ||
		l.MaxConnections != 1024 || cfg.WorkloadHold != time.Hour {
		t.Fatalf("defaults: %+v, hold %v", l, cfg.WorkloadHold)
	}
	cfg, err = parseServerConfig([]byte("workload_hold: 2h\nserver:\n  read_timeout: 5s\n  read_header_timeout: 2s\n  max_connections: 10\n"))
	if err != nil || cfg.Server.ReadTimeout != 5*time.Second || cfg.Server.ReadHeaderTimeout != 2*time.Second ||
		cfg.Server.MaxConnections != 10 || cfg.WorkloadHold != 2*time.Hour {
		t.Fatalf("set: %+v %v", cfg, err)
	}
}
