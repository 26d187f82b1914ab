package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A provider that refuses the held key in its own way (Google: 400
// API_KEY_INVALID) gets the gateway's 502, not its body, and the key is
// read again on the next request; any other 400 passes through whole.
func TestGeminiRejectedKey(t *testing.T) {
	var invalid bool
	up := newProviderUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		if invalid {
			io.WriteString(w, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`)
			return
		}
		io.WriteString(w, `{"error":{"code":400,"message":"contents is empty","status":"INVALID_ARGUMENT"}}`)
	})
	f := newFixture(t, 66, func(c *Config) { c.Upstreams["google"] = up.URL })
	f.addHeld(t, "hc_gemini", "google", "gemini-key", "AIza"+nil2gen(67).Alnum(35))
	tok, _ := f.issue(t, nil2gen(68), []string{"chat", "provider:google", "model:gemini-2.5-flash"})
	send := func() (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/gemini/v1beta/models/gemini-2.5-flash:generateContent", strings.NewReader(`{"contents":[]}`))
		req.Header.Set("X-Goog-Api-Key", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := send(); st != http.StatusBadRequest || !strings.Contains(body, "contents is empty") {
		t.Fatalf("a plain 400: %d %s", st, body)
	}
	invalid = true
	if st, body := send(); st != http.StatusBadGateway || strings.Contains(body, "API key not valid") {
		t.Fatalf("rejected key: %d %s", st, body)
	}
	f.gw.keys.mu.RLock()
	_, cached := f.gw.keys.m["hc_gemini"]
	f.gw.keys.mu.RUnlock()
	if cached {
		t.Error("the rejected key is still cached")
	}
}

func TestBedrockRejected(t *testing.T) {
	s := bedrockSurface("us-east-1", nil)
	h := http.Header{}
	h.Set("X-Amzn-Errortype", "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/")
	if !s.rejected(http.StatusForbidden, h, nil) {
		t.Error("UnrecognizedClientException not seen as a rejected key")
	}
	h.Set("X-Amzn-Errortype", "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/")
	if s.rejected(http.StatusForbidden, h, nil) {
		t.Error("AccessDeniedException (a permission, not the key) seen as a rejected key")
	}
}
