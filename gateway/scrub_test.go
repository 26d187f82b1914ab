package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aicred/aicred"
)

// leaks lists the forms of the key parts found in text, computed apart
// from the scrubber's own variant set.
func leaks(text string, parts ...string) []string {
	var found []string
	for _, p := range parts {
		esc, _ := json.Marshal(p)
		uesc := escapeBytes(p, `\u00`, "0123456789abcdef", isAlnum)
		forms := []string{p, string(esc[1 : len(esc)-1]), uesc, url.QueryEscape(p), strings.ReplaceAll(p, "/", `\/`),
			base64.StdEncoding.EncodeToString([]byte(p))[:4*(len(p)/3)],
			base64.StdEncoding.EncodeToString([]byte("Bearer " + p))[12 : 4*((7+len(p))/3)],
			base64.URLEncoding.EncodeToString([]byte(p))[:4*(len(p)/3)]}
		for _, f := range forms {
			if len(f) >= minSecretPattern && strings.Contains(text, f) {
				found = append(found, "form of "+redact(f))
			}
		}
	}
	return found
}

// keyParts are the parts of sc's held key that must never come back.
func (sc surfaceCase) keyParts() []string {
	if sc.kind == awsKeyPairKind {
		return strings.Split(sc.secret, ":")
	}
	return []string{sc.secret}
}

// echoUpstream answers with every request header it received, in many
// encodings, in the body (JSON, SSE or one byte per flush) and in
// response headers, with the status the request's path asks.
func echoUpstream(status int, mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		var dump bytes.Buffer
		_ = r.Header.Write(&dump)
		js, _ := json.Marshal(r.Header)
		var enc []string
		for k, vv := range r.Header {
			for _, v := range vv {
				enc = append(enc, k, url.QueryEscape(v), escapeBytes(v, `\u00`, "0123456789ABCDEF", isAlnum),
					base64.StdEncoding.EncodeToString([]byte(k+": "+v)), base64.URLEncoding.EncodeToString([]byte(v)))
				w.Header().Add("X-Echo-"+k, v)
				w.Header().Add("X-Echo-B64", base64.StdEncoding.EncodeToString([]byte(v)))
			}
		}
		w.Header().Set("Location", "https://evil.test/?h="+url.QueryEscape(dump.String()))
		w.Header().Set("Trailer", "X-Echo-Trailer")
		msg, _ := json.Marshal(dump.String() + strings.Join(enc, " "))
		body := `{"error":{"message":` + string(msg) + `,"headers":` + string(js) + `}}`
		switch mode {
		case "sse":
			w.Header().Set("Content-Type", "text/event-stream")
			body = "event: error\ndata: " + body + "\n\n"
		default:
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		if mode == "bytes" {
			fl := w.(http.Flusher)
			for i := range len(body) {
				_, _ = io.WriteString(w, body[i:i+1])
				fl.Flush()
			}
		} else {
			_, _ = io.WriteString(w, body)
		}
		w.Header().Set("X-Echo-Trailer", dump.String())
	}
}

// An upstream that echoes the request's headers, in every status and
// body shape, never hands the held key to the client: not in the body,
// a header, the Location or a trailer.
func TestScrubUpstreamEcho(t *testing.T) {
	for _, sc := range surfaceCases() {
		for _, mode := range []string{"json", "sse", "bytes"} {
			for _, status := range []int{200, 400, 401, 403, 429, 500} {
				t.Run(sc.name+"/"+mode+"/"+strconv.Itoa(status), func(t *testing.T) {
					f, tok := surfaceFixture(t, sc, echoUpstream(status, mode), nil)
					resp, err := http.DefaultClient.Do(sc.newRequest(t, f.srv.URL, tok))
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					all := headerText(resp.Header) + string(b) + headerText(resp.Trailer)
					if l := leaks(all, sc.keyParts()...); len(l) > 0 {
						t.Fatalf("status %d: the client got %v", resp.StatusCode, l)
					}
					if resp.StatusCode == 200 && !strings.Contains(string(b), "***") {
						t.Fatalf("nothing redacted: %.200s", b)
					}
					if len(resp.Trailer) != 0 {
						t.Errorf("trailers passed: %v", resp.Trailer)
					}
				})
			}
		}
	}
}

// A body the scrubber cannot read (an encoding left on it, or a second
// gzip layer under the one the transport removed) is answered 502 in
// the provider's shape and recorded as an upstream error.
func TestScrubUnreadableEncoding(t *testing.T) {
	sc := surfaceCases()[0]
	gz := func(b []byte) []byte {
		var o bytes.Buffer
		w := gzip.NewWriter(&o)
		w.Write(b)
		w.Close()
		return o.Bytes()
	}
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want int
	}{
		{"br", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			w.Write([]byte("opaque"))
		}, 502},
		{"deflate", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "deflate")
			w.Write([]byte("opaque"))
		}, 502},
		{"gzip, gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip, gzip")
			w.Write(gz(gz([]byte(`{}`))))
		}, 502},
		{"two gzip lines", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Encoding"] = []string{"gzip", "gzip"}
			w.Write(gz(gz([]byte(`{}`))))
		}, 502},
		{"gzip", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("the transport did not ask for gzip: %q", r.Header.Get("Accept-Encoding"))
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/json")
			w.Write(gz([]byte(`{"echo":"` + r.Header.Get("Authorization") + `"}`)))
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, tok := surfaceFixture(t, sc, tc.h, nil)
			req := sc.newRequest(t, f.srv.URL, tok)
			req.Header.Set("Accept-Encoding", "identity") // the client's own: never forwarded
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || leaks(string(b), sc.secret) != nil {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if tc.want == 502 {
				openAIShaped(t, string(b))
				if r := f.waitRecords(t, 1)[0]; r.Outcome != OutcomeUpstreamError || r.Status != 502 {
					t.Errorf("record %+v", r)
				}
			}
		})
	}
}

// A redirect is passed to the client as is (its Location scrubbed); the
// gateway never follows it, so the other server receives nothing.
func TestScrubRedirectNotFollowed(t *testing.T) {
	var hit atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Add(1) }))
	defer other.Close()
	sc := surfaceCases()[1]
	f, tok := surfaceFixture(t, sc, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal?k="+r.Header.Get("X-Api-Key"), http.StatusTemporaryRedirect)
	}, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(sc.newRequest(t, f.srv.URL, tok))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hit.Load() != 0 {
		t.Fatalf("%d, other server hit %d times", resp.StatusCode, hit.Load())
	}
	if l := leaks(headerText(resp.Header)+string(b), sc.secret); l != nil {
		t.Fatalf("leaked %v", l)
	}
}

// The streaming scrubber over any chunking equals the whole-buffer
// reference.
func FuzzScrub(f *testing.F) {
	key := "sk-ant-api03-" + nil2gen(903).URL64(40) + "AA"
	set := newSecretSet(key)
	f.Add([]byte("x"+key+"y"), uint8(1))
	f.Add([]byte(key[:10]+key+key[5:]), uint8(3))
	f.Add([]byte(escapeBytes(key, `\u00`, "0123456789abcdef", isAlnum)), uint8(7))
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte("Bearer "+key))), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		// Plant the key where the data says, so matches are common.
		if len(data) > 2 && data[0]%4 == 0 {
			at := int(data[1]) % len(data)
			data = append(data[:at:at], append([]byte(key), data[at:]...)...)
		}
		want := set.scrub(data)
		s := newScrubber(io.NopCloser(&steppedReader{data: data, step: int(step%17) + 1}), set, nil)
		var got []byte
		buf := make([]byte, int(step%5)+1)
		for {
			n, err := s.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("streamed %q\nwant     %q", got, want)
		}
		if bytes.Contains(got, []byte(key)) {
			t.Fatal("key passed")
		}
	})
}

// steppedReader returns data step bytes per Read.
type steppedReader struct {
	data []byte
	step int
}

func (c *steppedReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(c.step, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

func TestScrubVariants(t *testing.T) {
	sc := surfaceCases()[4] // AWS key pair with a session token
	set := (&keyEntry{kind: awsKeyPairKind, key: secretOf(sc.secret)}).secrets()
	id, rest, _ := strings.Cut(sc.secret, ":")
	secret, session, _ := strings.Cut(rest, ":")
	for _, text := range []string{
		id, secret, session,
		"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)),
		"xx" + base64.URLEncoding.EncodeToString([]byte("Bearer "+secret)),
		url.PathEscape(secret), escapeBytes(secret, "%", "0123456789abcdef", isUnreserved),
		escapeBytes(secret, `\u00`, "0123456789ABCDEF", isAlnum),
	} {
		if got := string(set.scrub([]byte(text))); leaks(got, id, secret, session) != nil || got == text {
			t.Errorf("%s: scrubbed %s", redact(text), redact(got))
		}
	}
	if got := set.scrub([]byte("an ordinary answer")); string(got) != "an ordinary answer" {
		t.Errorf("ordinary text changed: %s", got)
	}
}

// BenchmarkScrub: a 64 KiB SSE body with no key, read as ReverseProxy
// does (32 KiB buffer), with an AWS key pair's set (the largest).
func BenchmarkScrub(b *testing.B) {
	sc := surfaceCases()[4]
	set := (&keyEntry{kind: awsKeyPairKind, key: secretOf(sc.secret)}).secrets()
	var body bytes.Buffer
	for body.Len() < 64<<10 {
		body.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello world, streaming tokens"}}]}` + "\n\n")
	}
	data := body.Bytes()[:64<<10]
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := newScrubber(io.NopCloser(bytes.NewReader(data)), set, nil)
		for {
			if _, err := s.Read(buf); err != nil {
				break
			}
		}
	}
}

func secretOf(s string) aicred.Secret { return aicred.NewSecret(s) }
