package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// events splits in with the scanner, fed in pieces of the given sizes.
func scanAll(in []byte, sizes []byte) (evs []sseEvent, rest []byte) {
	var s sseScanner
	fn := func(ev sseEvent) {
		evs = append(evs, sseEvent{raw: bytes.Clone(ev.raw), name: bytes.Clone(ev.name), data: bytes.Clone(ev.data)})
	}
	pass := func(p []byte) { rest = append(rest, p...) }
	for i := 0; len(in) > 0; i++ {
		n := len(in)
		if len(sizes) > 0 {
			n = min(n, int(sizes[i%len(sizes)])+1)
		}
		s.feed(in[:n], fn, pass)
		in = in[n:]
	}
	return evs, append(rest, s.rest()...)
}

func FuzzSSEScanner(f *testing.F) {
	f.Add([]byte("event: message_start\ndata: {\"a\":1}\n\n"), []byte{3, 7})
	f.Add([]byte("data: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n"), []byte{0})
	f.Add([]byte(": comment\n\nid: 1\nretry: 5\ndata\n\n"), []byte{1, 2, 250})
	f.Add([]byte("data: unterminated"), []byte{})
	f.Fuzz(func(t *testing.T, in []byte, sizes []byte) {
		whole, wrest := scanAll(in, nil)
		split, srest := scanAll(in, sizes)
		if len(whole) != len(split) || !bytes.Equal(wrest, srest) {
			t.Fatalf("whole %d events rest %q, split %d events rest %q", len(whole), wrest, len(split), srest)
		}
		var joined []byte
		for i := range whole {
			if !bytes.Equal(whole[i].raw, split[i].raw) || !bytes.Equal(whole[i].name, split[i].name) || !bytes.Equal(whole[i].data, split[i].data) {
				t.Fatalf("event %d differs: %q vs %q", i, whole[i].raw, split[i].raw)
			}
			joined = append(joined, whole[i].raw...)
		}
		// Nothing is lost or invented: events and rest are the input.
		if !bytes.Equal(append(joined, wrest...), in) {
			t.Fatalf("bytes lost: %q", in)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"stream_options":{"include_usage":false},"model":"m","stream":true,"max_tokens":12}`,
		`{"stream_options":null,"model":"m"}`,
		`{"mod\u0065l":"x","max_completion_tokens":5}`,
		`{}`, ` { "model" : "a\"b" } `, `{"model":"a","model":"b"}`, `[]`, `{"a":[{"model":"no"}],"model":"yes"}`,
		`{"model":"gpt-4o","n":128,"max_tokens":4096.5}`, `{"max_completion_tokens":1.6e4,"n":"2"}`, `{"n":1000}`, `{"max_tokens":-1}`,
		`{"generationConfig":{"maxOutputTokens":60000,"candidateCount":4},"contents":[]}`,
		`{"generation_config":{"max_output_tokens":"8192","candidate_count":2}}`,
		`{"generationConfig":{"maxOutputTokens":1,"max_output_tokens":2}}`, `{"generationConfig":{},"generation_config":null}`,
		`{"inferenceConfig":{"maxTokens":2000,"max_new_tokens":1e3}}`, `{"inferenceConfig":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		facts, err := parseRequest(body)
		var m map[string]json.RawMessage
		derr := json.Unmarshal(body, &m)
		limit, choices, n, countsOK := refCounts(m)
		if err != nil {
			if derr == nil && m != nil && !repeats(body) && countsOK {
				if raw, ok := m["model"]; !ok || raw[0] == '"' {
					if _, ok := m["stream_options"]; !ok || m["stream_options"][0] == '{' || string(m["stream_options"]) == "null" {
						t.Fatalf("refused a valid object: %v: %s", err, body)
					}
				}
			}
			return
		}
		if derr != nil || m == nil {
			t.Fatalf("accepted what encoding/json refuses (%v): %s", derr, body)
		}
		raw, ok := m["model"]
		if ok != facts.HasModel {
			t.Fatalf("model presence %v vs %v: %s", facts.HasModel, ok, body)
		}
		if ok {
			var s string
			if json.Unmarshal(raw, &s) != nil || s != facts.Model {
				t.Fatalf("model %q vs %s", facts.Model, raw)
			}
		}
		if facts.Stream != (string(m["stream"]) == "true") {
			t.Fatalf("stream %v: %s", facts.Stream, body)
		}
		if !countsOK {
			t.Fatalf("accepted a count out of bounds: %s", body)
		}
		if facts.MaxTokens != limit || facts.Choices != choices || facts.N != n {
			t.Fatalf("limit %d choices %d n %d, want %d %d %d: %s", facts.MaxTokens, facts.Choices, facts.N, limit, choices, n, body)
		}
		out, err := withIncludeUsage(body, facts)
		if err != nil {
			return
		}
		var m2 map[string]json.RawMessage
		if err := json.Unmarshal(out, &m2); err != nil {
			t.Fatalf("injected body invalid: %v: %s", err, out)
		}
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if json.Unmarshal(m2["stream_options"], &so) != nil || !so.IncludeUsage {
			t.Fatalf("include_usage not set: %s", out)
		}
		for k, v := range m {
			if k != "stream_options" && !bytes.Equal(m2[k], v) {
				t.Fatalf("member %q changed: %s -> %s", k, v, m2[k])
			}
		}
		if f2, err := parseRequest(out); err != nil || f2.Model != facts.Model || !f2.IncludeUsage {
			t.Fatalf("reparse: %v %+v", err, f2)
		}
	})
}

// repeats reports whether a key the gateway acts on repeats: at the top
// level, or in generationConfig or inferenceConfig.
func repeats(body []byte) bool {
	return repeatsIn(body, map[string]string{
		"model": "model", "stream": "stream", "stream_options": "stream_options", "n": "n",
		"max_tokens": "max_tokens", "max_completion_tokens": "max_completion_tokens", "max_output_tokens": "max_output_tokens",
		"generationConfig": "gen", "generation_config": "gen", "inferenceConfig": "inf",
	})
}

func repeatsIn(body []byte, names map[string]string) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return false
		}
		name, acts := names[k.(string)]
		if acts {
			if seen[name] {
				return true
			}
			seen[name] = true
		}
		var v json.RawMessage
		if d.Decode(&v) != nil {
			return false
		}
		switch {
		case name == "gen" && repeatsIn(v, map[string]string{"maxOutputTokens": "max", "max_output_tokens": "max", "candidateCount": "n", "candidate_count": "n"}):
			return true
		case name == "inf" && repeatsIn(v, map[string]string{"maxTokens": "maxTokens", "max_new_tokens": "max_new_tokens"}):
			return true
		}
	}
	return false
}

// refCounts is what parseRequest must read from an object as
// encoding/json decodes it: the largest output limit, the choices and n;
// ok is false where it must refuse a count (not a number or a string
// holding one, negative, or over the bounds) or a config that is not an
// object.
func refCounts(m map[string]json.RawMessage) (limit, choices, n int64, ok bool) {
	num := func(raw json.RawMessage, most int64) (int64, bool) {
		if raw == nil || string(raw) == "null" {
			return 0, true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(strings.TrimSpace(s))
		}
		var v json.Number
		if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &v) != nil {
			return 0, false
		}
		x, err := strconv.ParseFloat(v.String(), 64)
		if err != nil || x < 0 || x > float64(most) {
			return 0, false
		}
		return int64(math.Ceil(x)), true
	}
	counts := func(o map[string]json.RawMessage, limits, choiceKeys []string) bool {
		for _, k := range limits {
			v, ok := num(o[k], maxOutputLimit)
			if !ok {
				return false
			}
			limit = max(limit, v)
		}
		for _, k := range choiceKeys {
			v, ok := num(o[k], maxChoices)
			if !ok {
				return false
			}
			choices = max(choices, v)
		}
		return true
	}
	sub := func(raw json.RawMessage) (map[string]json.RawMessage, bool) {
		var o map[string]json.RawMessage
		if raw == nil || string(raw) == "null" {
			return nil, true
		}
		return o, raw[0] == '{' && json.Unmarshal(raw, &o) == nil
	}
	if n, ok = num(m["n"], maxChoices); !ok || !counts(m, []string{"max_tokens", "max_completion_tokens", "max_output_tokens"}, nil) {
		return 0, 0, 0, false
	}
	choices = n
	for _, k := range []string{"generationConfig", "generation_config"} {
		o, ok := sub(m[k])
		if !ok || !counts(o, []string{"maxOutputTokens", "max_output_tokens"}, []string{"candidateCount", "candidate_count"}) {
			return 0, 0, 0, false
		}
	}
	o, ok := sub(m["inferenceConfig"])
	if !ok || !counts(o, []string{"maxTokens", "max_new_tokens"}, nil) {
		return 0, 0, 0, false
	}
	return limit, choices, n, true
}

// TestHideUsageChunkAnySplit streams an OpenAI answer through the meter in
// pieces of every size from 1 byte: the client gets every event but the
// usage chunk, byte for byte, and the meter gets the usage.
func TestHideUsageChunkAnySplit(t *testing.T) {
	rec := httptest.NewRecorder()
	openAIStream(rec, httptest.NewRequest("POST", "/", strings.NewReader(`{"include_usage":true}`)))
	full := rec.Body.Bytes()
	i := bytes.Index(full, []byte(`data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],`))
	j := i + bytes.Index(full[i:], []byte("\n\n")) + 2
	want := append(bytes.Clone(full[:i]), full[j:]...)
	for size := 1; size <= len(full); size += 1 + size/4 {
		x := &exchange{route: &route{surface: openAI, usage: chatUsage}, hideUsage: true, r: httptest.NewRequest("POST", "/", nil)}
		m := &meter{x: x, hideUsageChunk: true}
		b := &meteredBody{rc: io.NopCloser(&chunked{b: full, n: size}), m: m, mode: modeSSE, hiding: true}
		m.once.Do(func() {}) // no recorder here
		got, err := io.ReadAll(b)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: err %v\n got %q\nwant %q", size, err, got, want)
		}
		if !m.haveUsage || m.usage != (Usage{InputTokens: 1000, OutputTokens: 50}) {
			t.Fatalf("size %d: usage %+v", size, m.usage)
		}
	}
}

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

var _ http.Handler = (*Gateway)(nil)
