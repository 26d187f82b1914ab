package verify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// canaries holds every secret the tests generate. Every detail a test sees
// goes through noLeak, which fails if any canary (raw, or in a Basic
// credential's base64) appears in it.
var canaries sync.Map

func canary(s string) string {
	canaries.Store(s, true)
	return s
}

func noLeak(t *testing.T, detail string) {
	t.Helper()
	canaries.Range(func(k, _ any) bool {
		s := k.(string)
		if strings.Contains(detail, s) || strings.Contains(detail, base64.StdEncoding.EncodeToString([]byte(s))) {
			t.Errorf("detail %q leaks a secret", detail)
		}
		return true
	})
}

// catalogKind returns a kind from the catalog, skipping the test when it is
// not there (the catalog is being extended concurrently).
func catalogKind(t *testing.T, prov, kind string) *provider.Kind {
	t.Helper()
	k, ok := provider.LookupKind(prov, kind)
	if !ok {
		t.Skipf("%s/%s is not in the catalog", prov, kind)
	}
	if k.Liveness == nil && prov != "anthropic" {
		t.Skipf("%s/%s has no liveness check", prov, kind)
	}
	return k
}

// keyFor generates a key of kind k's own format from its rule's examples.
func keyFor(t *testing.T, k *provider.Kind, seed uint64) string {
	t.Helper()
	ex := k.Rule.Examples(provider.NewGen(seed))
	if len(ex) == 0 {
		t.Fatalf("%s has no examples", k.Describe())
	}
	return canary(ex[0].Secret)
}

// testKey is a key for synthetic kinds.
func testKey(seed uint64) string { return canary("tk_" + provider.NewGen(seed).URL64(40)) }

func finding(k *provider.Kind, secret string) *aicred.Finding {
	s := aicred.NewSecret(secret)
	return &aicred.Finding{
		Provider: k.Provider().ID, Kind: k.ID, Rule: k.Rule.ID,
		Secret: s, Fingerprint: s.Fingerprint(), Redacted: s.Redacted(),
	}
}

// synthetic builds a kind outside the catalog with liveness l.
func synthetic(id string, l *provider.Liveness) *provider.Kind {
	p := &provider.Provider{ID: "test", Name: "Test"}
	return provider.NewCustomKind(p, &provider.Kind{ID: id, Name: "test " + id, Liveness: l})
}

// newVerifier returns a Verifier with fast backoff that also knows the
// given synthetic kinds.
func newVerifier(opts Options, kinds ...*provider.Kind) *Verifier {
	opts.Lookup = func(p, k string) (*provider.Kind, bool) {
		for _, c := range kinds {
			if c.Provider().ID == p && c.ID == k {
				return c, true
			}
		}
		return provider.LookupKind(p, k)
	}
	v := New(opts)
	v.backoff = time.Millisecond
	return v
}

func check(t *testing.T, v *Verifier, f *aicred.Finding) (aicred.Verification, string) {
	t.Helper()
	st, d := v.Verify(context.Background(), f)
	noLeak(t, d)
	if d == "" {
		t.Errorf("empty detail for state %s", st)
	}
	return st, d
}

// server is an httptest server that counts requests and keeps the last one.
type server struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
	body string
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		var b strings.Builder
		if r.Body != nil {
			buf := make([]byte, 4096)
			n, _ := r.Body.Read(buf)
			b.Write(buf[:n])
		}
		s.mu.Lock()
		s.last, s.body = r, b.String()
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) lastRequest() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.body
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// OpenAI project keys: GET /v1/models with a Bearer token; the catalog's
// answer table decides.
func TestOpenAIModels(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")
	cases := []struct {
		name   string
		status int
		body   string
		want   aicred.Verification
		hits   int64
	}{
		{"listed models", 200, `{"object":"list","data":[{"id":"gpt-4o"}]}`, aicred.Live, 1},
		{"invalid key", 401, `{"error":{"code":"invalid_api_key"}}`, aicred.Dead, 1},
		{"WAF page on 200", 200, `<html><title>Attention Required!</title></html>`, aicred.Unknown, 1},
		{"rate limited throughout", 429, `{"error":{"type":"rate_limit"}}`, aicred.Unknown, 3},
		{"persistent 503", 503, `upstream connect error`, aicred.Unknown, 3},
		{"server error 500", 500, ``, aicred.Unknown, 3},
		{"not found", 404, `{}`, aicred.Unknown, 1},
		{"teapot", 418, `{}`, aicred.Unknown, 1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := keyFor(t, k, uint64(100+i))
			s := newServer(t, reply(c.status, c.body))
			v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
			st, d := check(t, v, finding(k, key))
			if st != c.want {
				t.Errorf("state = %s (%s), want %s", st, d, c.want)
			}
			if got := s.hits.Load(); got != c.hits {
				t.Errorf("requests = %d, want %d", got, c.hits)
			}
			r, _ := s.lastRequest()
			if r.Method != http.MethodGet || r.URL.Path != "/v1/models" {
				t.Errorf("request = %s %s, want GET /v1/models", r.Method, r.URL.Path)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+key {
				t.Errorf("Authorization header is not Bearer <key>")
			}
			if got := r.Header.Get("User-Agent"); got != DefaultUserAgent {
				t.Errorf("User-Agent = %q", got)
			}
		})
	}
}

func TestAnthropicHeaders(t *testing.T) {
	k := catalogKind(t, "anthropic", "api-key")
	key := keyFor(t, k, 1)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != key || r.Header.Get("anthropic-version") == "" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"data":[{"type":"model","id":"claude-sonnet-4"}]}`)
	})
	v := newVerifier(Options{BaseURLs: map[string]string{"anthropic/api-key": s.URL}})
	if st, d := check(t, v, finding(k, key)); st != aicred.Live {
		t.Fatalf("state = %s (%s), want live", st, d)
	}
	r, _ := s.lastRequest()
	if r.URL.Path != "/v1/models" {
		t.Errorf("path = %s", r.URL.Path)
	}
	if r.Header.Get("x-api-key") != key {
		t.Error("server did not see the key in x-api-key")
	}
	if got := r.Header.Get("anthropic-version"); got != "2023-06-01" {
		t.Errorf("anthropic-version = %q", got)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("the key was also sent in Authorization")
	}
}

func TestCohereBodyMarker(t *testing.T) {
	k := catalogKind(t, "cohere", "api-key")
	cases := []struct {
		body string
		want aicred.Verification
	}{
		{`{"connectors":[],"total_count":0}`, aicred.Live},
		{`{"data":[]}`, aicred.Unknown},
		{`<html>ok</html>`, aicred.Unknown},
	}
	for i, c := range cases {
		s := newServer(t, reply(200, c.body))
		v := newVerifier(Options{BaseURLs: map[string]string{"cohere": s.URL}})
		if st, d := check(t, v, finding(k, keyFor(t, k, uint64(10+i)))); st != c.want {
			t.Errorf("body %s: state = %s (%s), want %s", c.body, st, d, c.want)
		}
		if r, _ := s.lastRequest(); r.URL.Path != "/v1/connectors" {
			t.Errorf("path = %s", r.URL.Path)
		}
	}
}

func TestNoPermission(t *testing.T) {
	k := synthetic("restricted", &provider.Liveness{
		BaseURL: "https://api.invalid", Path: "/v1/indexes", Auth: provider.HeaderAuth("Api-Key"),
		Live: []int{200}, Dead: []int{401}, NoPermission: []int{403}, LiveBody: []string{`"indexes"`},
	})
	s := newServer(t, reply(403, `{"error":{"code":"FORBIDDEN"}}`))
	v := newVerifier(Options{BaseURLs: map[string]string{"test/restricted": s.URL}}, k)
	if st, d := check(t, v, finding(k, testKey(1))); st != aicred.LiveNoPermission {
		t.Errorf("state = %s (%s), want live-no-permission", st, d)
	}

	t.Run("google", func(t *testing.T) {
		g := catalogKind(t, "google", "api-key")
		key := keyFor(t, g, 2)
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("key") != "" {
				t.Error("the key was sent in the query string")
			}
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error":{"status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_HTTP_REFERRER_BLOCKED"}]}}`)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"google": s.URL}})
		if st, d := check(t, v, finding(g, key)); st != aicred.LiveNoPermission {
			t.Errorf("state = %s (%s), want live-no-permission", st, d)
		}
	})
}

func TestDeadBody(t *testing.T) {
	k := synthetic("deadbody", &provider.Liveness{
		BaseURL: "https://api.invalid", Path: "/v1/files", Auth: provider.Bearer,
		Dead: []int{401}, NoPermission: []int{403}, DeadBody: []string{"Provided API key is invalid"},
	})
	cases := []struct {
		status int
		body   string
		want   aicred.Verification
	}{
		{400, `{"detail":"Provided API key is invalid."}`, aicred.Dead},
		{200, `{"data":[]}`, aicred.Live},
		{403, `{"detail":"forbidden"}`, aicred.LiveNoPermission},
	}
	for i, c := range cases {
		s := newServer(t, reply(c.status, c.body))
		v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
		if st, d := check(t, v, finding(k, testKey(uint64(20+i)))); st != c.want {
			t.Errorf("%d %s: state = %s (%s), want %s", c.status, c.body, st, d, c.want)
		}
	}
}

func TestRetry(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")

	t.Run("429 then 200", func(t *testing.T) {
		var n atomic.Int64
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
				return
			}
			fmt.Fprint(w, `{"object":"list","data":[]}`)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		st, d := check(t, v, finding(k, keyFor(t, k, 30)))
		if st != aicred.Live || s.hits.Load() != 2 {
			t.Errorf("state = %s (%s) after %d requests, want live after 2", st, d, s.hits.Load())
		}
	})

	t.Run("503 then 401", func(t *testing.T) {
		var n atomic.Int64
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			if n.Add(1) < 3 {
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(401)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		if st, d := check(t, v, finding(k, keyFor(t, k, 31))); st != aicred.Dead || s.hits.Load() != 3 {
			t.Errorf("state = %s (%s) after %d requests, want dead after 3", st, d, s.hits.Load())
		}
	})

	t.Run("Retry-After beyond the cap", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}, MaxRetryWait: time.Second})
		start := time.Now()
		st, d := check(t, v, finding(k, keyFor(t, k, 32)))
		if st != aicred.Unknown || s.hits.Load() != 1 || time.Since(start) > 5*time.Second {
			t.Errorf("state = %s (%s) after %d requests in %s, want unknown after 1, quickly", st, d, s.hits.Load(), time.Since(start))
		}
	})

	t.Run("Retry-After honoured", func(t *testing.T) {
		var n atomic.Int64
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
				return
			}
			fmt.Fprint(w, `{"data":[]}`)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		start := time.Now()
		st, _ := check(t, v, finding(k, keyFor(t, k, 33)))
		if st != aicred.Live || time.Since(start) < 900*time.Millisecond {
			t.Errorf("state = %s after %s, want live after waiting about 1s", st, time.Since(start))
		}
	})

	t.Run("no retries", func(t *testing.T) {
		s := newServer(t, reply(503, ""))
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}, Retries: -1})
		if st, _ := check(t, v, finding(k, keyFor(t, k, 34))); st != aicred.Unknown || s.hits.Load() != 1 {
			t.Errorf("state = %s after %d requests, want unknown after 1", st, s.hits.Load())
		}
	})

	t.Run("4xx is not retried", func(t *testing.T) {
		s := newServer(t, reply(400, "bad request"))
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		if st, _ := check(t, v, finding(k, keyFor(t, k, 35))); st != aicred.Unknown || s.hits.Load() != 1 {
			t.Errorf("state = %s after %d requests, want unknown after 1", st, s.hits.Load())
		}
	})
}

func TestTimeout(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, `{"data":[]}`)
	})
	v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}, Timeout: 50 * time.Millisecond, Retries: 1})
	start := time.Now()
	st, d := check(t, v, finding(k, keyFor(t, k, 40)))
	if st != aicred.Unknown || !strings.Contains(d, "timed out") {
		t.Errorf("state = %s (%s), want unknown, timed out", st, d)
	}
	if s.hits.Load() != 2 {
		t.Errorf("requests = %d, want 2 (a timeout is retried)", s.hits.Load())
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s", el)
	}
}

func TestTransportError(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")
	s := httptest.NewServer(http.NotFoundHandler())
	base := s.URL
	s.Close() // nothing listens there any more
	v := newVerifier(Options{BaseURLs: map[string]string{"openai": base}})
	if st, d := check(t, v, finding(k, keyFor(t, k, 41))); st != aicred.Unknown || !strings.Contains(d, "connection failed") {
		t.Errorf("state = %s (%s), want unknown, connection failed", st, d)
	}
}

func TestWAFAndBodyLimit(t *testing.T) {
	k := catalogKind(t, "cohere", "api-key")
	// The marker sits past the 64 KiB that are read, so it is not seen.
	s := newServer(t, reply(200, strings.Repeat(" ", maxBody+10)+`{"connectors":[]}`))
	v := newVerifier(Options{BaseURLs: map[string]string{"cohere": s.URL}})
	if st, d := check(t, v, finding(k, keyFor(t, k, 50))); st != aicred.Unknown {
		t.Errorf("state = %s (%s), want unknown", st, d)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")
	elsewhere := newServer(t, reply(200, `{"data":[]}`))
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/v1/models", http.StatusFound)
	})
	v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
	if st, d := check(t, v, finding(k, keyFor(t, k, 60))); st != aicred.Unknown {
		t.Errorf("state = %s (%s), want unknown", st, d)
	}
	if elsewhere.hits.Load() != 0 {
		t.Error("the redirect was followed, carrying the key elsewhere")
	}
}

func TestNotChecked(t *testing.T) {
	v := newVerifier(Options{BaseURLs: map[string]string{"anthropic": "http://127.0.0.1:1"}})

	t.Run("no liveness", func(t *testing.T) {
		k := catalogKind(t, "anthropic", "oauth-token")
		if k.Liveness != nil {
			t.Skip("anthropic/oauth-token gained a liveness check")
		}
		st, d := check(t, v, finding(k, keyFor(t, k, 70)))
		if st != aicred.NotChecked || d != "no safe liveness check known" {
			t.Errorf("got %s (%s)", st, d)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		f := &aicred.Finding{Provider: "nosuch", Kind: "key", Secret: aicred.NewSecret(testKey(71))}
		if st, _ := check(t, v, f); st != aicred.NotChecked {
			t.Errorf("got %s", st)
		}
	})
	t.Run("no secret", func(t *testing.T) {
		k := catalogKind(t, "anthropic", "api-key")
		f := finding(k, "")
		if st, _ := check(t, v, f); st != aicred.NotChecked {
			t.Errorf("got %s", st)
		}
	})
}

func TestCache(t *testing.T) {
	live := reply(200, `{"object":"list","data":[]}`)

	t.Run("same secret, same rule: one request", func(t *testing.T) {
		k := catalogKind(t, "openai", "project-key")
		key := keyFor(t, k, 80)
		s := newServer(t, live)
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		a, b := finding(k, key), finding(k, key)
		a.Path, b.Path = "a.env", "b.env"
		v.VerifyAll(context.Background(), []*aicred.Finding{a, b})
		if s.hits.Load() != 1 {
			t.Errorf("requests = %d, want 1", s.hits.Load())
		}
		for _, f := range []*aicred.Finding{a, b} {
			noLeak(t, f.VerifyDetail)
			if f.Verification != aicred.Live || f.VerifyDetail == "" {
				t.Errorf("%s: %s (%s)", f.Path, f.Verification, f.VerifyDetail)
			}
		}
		// A later Verify answers from the cache.
		if st, _ := check(t, v, finding(k, key)); st != aicred.Live || s.hits.Load() != 1 {
			t.Errorf("state = %s, requests = %d; want live from the cache", st, s.hits.Load())
		}
	})

	t.Run("same secret, different rules: not shared", func(t *testing.T) {
		proj := catalogKind(t, "openai", "project-key")
		svc := catalogKind(t, "openai", "service-account-key")
		key := keyFor(t, proj, 81)
		s := newServer(t, live)
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		fs := []*aicred.Finding{finding(proj, key), finding(svc, key)}
		v.VerifyAll(context.Background(), fs)
		if s.hits.Load() != 2 {
			t.Errorf("requests = %d, want 2 (one per rule)", s.hits.Load())
		}
	})

	t.Run("different related secret: not shared", func(t *testing.T) {
		k := synthetic("pair", &provider.Liveness{BaseURL: "https://api.invalid", Path: "/", Auth: provider.Auth{Related: "secret_key"}})
		s := newServer(t, reply(200, "{}"))
		v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
		key := testKey(82)
		a, b := finding(k, key), finding(k, key)
		a.Related = map[string]aicred.Secret{"secret_key": aicred.NewSecret(testKey(83))}
		b.Related = map[string]aicred.Secret{"secret_key": aicred.NewSecret(testKey(84))}
		v.VerifyAll(context.Background(), []*aicred.Finding{a, b})
		if s.hits.Load() != 2 {
			t.Errorf("requests = %d, want 2", s.hits.Load())
		}
	})

	t.Run("unknown is not cached", func(t *testing.T) {
		k := catalogKind(t, "openai", "project-key")
		key := keyFor(t, k, 85)
		var up atomic.Bool
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				w.WriteHeader(503)
				return
			}
			live(w, r)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}, Retries: -1})
		if st, _ := check(t, v, finding(k, key)); st != aicred.Unknown {
			t.Fatalf("first check: %s", st)
		}
		up.Store(true)
		if st, _ := check(t, v, finding(k, key)); st != aicred.Live || s.hits.Load() != 2 {
			t.Errorf("second check: %s after %d requests, want live after 2", st, s.hits.Load())
		}
	})

	t.Run("concurrent Verify calls share one probe", func(t *testing.T) {
		k := catalogKind(t, "openai", "project-key")
		key := keyFor(t, k, 86)
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(30 * time.Millisecond)
			live(w, r)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if st, _ := v.Verify(context.Background(), finding(k, key)); st != aicred.Live {
					t.Errorf("state = %s", st)
				}
			})
		}
		wg.Wait()
		if s.hits.Load() != 1 {
			t.Errorf("requests = %d, want 1", s.hits.Load())
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")
	var inflight, peak atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inflight.Add(-1)
		fmt.Fprint(w, `{"data":[]}`)
	})
	const limit = 3
	v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}, Concurrency: limit})

	var fs []*aicred.Finding
	for i := range 15 {
		fs = append(fs, finding(k, keyFor(t, k, uint64(200+i))))
	}
	v.VerifyAll(context.Background(), fs)
	for _, f := range fs {
		if f.Verification != aicred.Live {
			t.Errorf("state = %s (%s)", f.Verification, f.VerifyDetail)
		}
	}
	if p := peak.Load(); p > limit || p < 2 {
		t.Errorf("peak in-flight = %d, want 2..%d", p, limit)
	}

	// The limit holds across concurrent Verify calls too.
	peak.Store(0)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() { v.Verify(context.Background(), finding(k, keyFor(t, k, uint64(300+i)))) })
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("peak in-flight across Verify calls = %d, want <= %d", p, limit)
	}
}

func TestHostHint(t *testing.T) {
	k := synthetic("hosted", &provider.Liveness{BaseURL: "http://{host}", Path: "/api/2.0/me", Auth: provider.Bearer})
	s := newServer(t, reply(200, `{"userName":"x"}`))
	host := strings.TrimPrefix(s.URL, "http://")
	v := newVerifier(Options{}, k)

	f := finding(k, testKey(90))
	f.Hints = map[string]string{"host": host}
	if st, d := check(t, v, f); st != aicred.Live {
		t.Errorf("state = %s (%s), want live", st, d)
	}
	if r, _ := s.lastRequest(); r.Host != host || r.URL.Path != "/api/2.0/me" {
		t.Errorf("request went to %s%s", r.Host, r.URL.Path)
	}

	before := s.hits.Load()
	for _, h := range []string{"", "evil.example/steal?x=", "user@" + host, "a b", host + "#x"} {
		f := finding(k, testKey(91))
		if h != "" {
			f.Hints = map[string]string{"host": h}
		}
		st, d := check(t, v, f)
		if st != aicred.Unknown || !strings.Contains(d, "needs host") {
			t.Errorf("host %q: %s (%s), want unknown, needs host", h, st, d)
		}
	}
	if s.hits.Load() != before {
		t.Error("a request was sent without a usable host")
	}

	// An override may use {host} as well; different hosts are different checks.
	v = newVerifier(Options{BaseURLs: map[string]string{"test/hosted": "http://{host}/prefix"}}, k)
	f = finding(k, testKey(90))
	f.Hints = map[string]string{"host": host}
	check(t, v, f)
	if r, _ := s.lastRequest(); r.URL.Path != "/prefix/api/2.0/me" {
		t.Errorf("path = %s", r.URL.Path)
	}
	g := finding(k, testKey(90))
	g.Hints = map[string]string{"host": "localhost:" + strings.Split(host, ":")[1]}
	check(t, v, g)
	if s.hits.Load() != before+2 {
		t.Errorf("requests = %d, want %d (the host is part of the cache key)", s.hits.Load()-before, 2)
	}
}

func TestAuthStyles(t *testing.T) {
	key, other := testKey(100), testKey(101)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	cases := []struct {
		name         string
		auth         provider.Auth
		related      bool
		header, want string
	}{
		{"bearer", provider.Bearer, false, "Authorization", "Bearer " + key},
		{"raw authorization", provider.Auth{}, false, "Authorization", key},
		{"scheme Token", provider.Auth{Scheme: "Token"}, false, "Authorization", "Token " + key},
		{"raw header", provider.HeaderAuth("X-API-Key"), false, "X-API-Key", key},
		{"basic user", provider.Auth{BasicUser: "api"}, false, "Authorization", basic("api", key)},
		{"basic key as user", provider.Auth{BasicUser: "-"}, false, "Authorization", basic(key, "")},
		{"basic with related secret", provider.Auth{Related: "secret_key"}, true, "Authorization", basic(key, other)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := synthetic("auth", &provider.Liveness{BaseURL: "https://api.invalid", Path: "/me", Auth: c.auth})
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get(c.header) != c.want {
					w.WriteHeader(401)
					return
				}
				fmt.Fprint(w, "{}")
			})
			v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
			f := finding(k, key)
			if c.related {
				f.Related = map[string]aicred.Secret{"secret_key": aicred.NewSecret(other)}
			}
			if st, d := check(t, v, f); st != aicred.Live {
				t.Errorf("state = %s (%s): server did not see %s as expected", st, d, c.header)
			}
		})
	}

	t.Run("related secret missing", func(t *testing.T) {
		k := synthetic("pair", &provider.Liveness{BaseURL: "https://api.invalid", Path: "/me", Auth: provider.Auth{Related: "secret_key"}})
		s := newServer(t, reply(200, "{}"))
		v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
		if st, d := check(t, v, finding(k, key)); st != aicred.Unknown || s.hits.Load() != 0 {
			t.Errorf("state = %s (%s) after %d requests, want unknown without a request", st, d, s.hits.Load())
		}
	})
}

func TestMethodBodyAndHeaders(t *testing.T) {
	k := synthetic("graphql", &provider.Liveness{
		Method: "POST", BaseURL: "https://api.invalid", Path: "/graphql", Auth: provider.Auth{BasicUser: "api"},
		Header: map[string]string{"X-Api-Version": "2025-10"}, Body: `{"query":"{ viewer { username } }"}`,
		LiveBody: []string{`"username"`},
	})
	s := newServer(t, reply(200, `{"data":{"viewer":{"username":"u"}}}`))
	v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}, UserAgent: "aicred-test/1"}, k)
	if st, d := check(t, v, finding(k, testKey(110))); st != aicred.Live {
		t.Fatalf("state = %s (%s)", st, d)
	}
	r, body := s.lastRequest()
	if r.Method != "POST" || body != `{"query":"{ viewer { username } }"}` {
		t.Errorf("request = %s with body %q", r.Method, body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Header.Get("X-Api-Version") != "2025-10" || r.Header.Get("User-Agent") != "aicred-test/1" {
		t.Errorf("headers = %v", r.Header)
	}
}

func TestProbe(t *testing.T) {
	t.Run("langfuse key pair", func(t *testing.T) {
		k := catalogKind(t, "langfuse", "secret-key")
		sk := keyFor(t, k, 120)
		pk := canary("pk-lf-" + provider.NewGen(121).UUID())
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != pk || p != sk {
				w.WriteHeader(401)
				return
			}
			fmt.Fprint(w, `{"data":[{"id":"p1"}]}`)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"langfuse": s.URL}})
		f := finding(k, sk)
		f.Related = map[string]aicred.Secret{"public_key": aicred.NewSecret(pk)}
		if st, d := check(t, v, f); st != aicred.Live {
			t.Errorf("state = %s (%s), want live", st, d)
		}
		if r, _ := s.lastRequest(); r.URL.Path != "/api/public/projects" || r.Header.Get("User-Agent") != DefaultUserAgent {
			t.Errorf("probe sent %s with User-Agent %q", r.URL.Path, r.Header.Get("User-Agent"))
		}
	})

	t.Run("transport error is retried", func(t *testing.T) {
		var calls atomic.Int64
		var gotBase string
		k := synthetic("probe", &provider.Liveness{BaseURL: "https://api.invalid",
			Probe: func(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
				gotBase = base
				if calls.Add(1) == 1 {
					return aicred.Unknown, "no answer", &url.Error{Op: "Get", URL: base + "/?key=" + f.Secret.Reveal(), Err: errors.New("connection reset")}
				}
				return aicred.Live, "accepted", nil
			}})
		v := newVerifier(Options{BaseURLs: map[string]string{"test/probe": "https://override.invalid/"}}, k)
		if st, d := check(t, v, finding(k, testKey(122))); st != aicred.Live || calls.Load() != 2 {
			t.Errorf("state = %s (%s) after %d calls, want live after 2", st, d, calls.Load())
		}
		if gotBase != "https://override.invalid" {
			t.Errorf("probe got base %q", gotBase)
		}
	})

	t.Run("a leaky or panicking probe leaks nothing", func(t *testing.T) {
		key, rel := testKey(123), testKey(124)
		for i, p := range []func(context.Context, *http.Client, string, *aicred.Finding) (aicred.Verification, string, error){
			func(_ context.Context, _ *http.Client, _ string, f *aicred.Finding) (aicred.Verification, string, error) {
				return aicred.Dead, "rejected " + f.Secret.Reveal() + " with " + f.Related["other"].Reveal(), nil
			},
			func(_ context.Context, _ *http.Client, _ string, f *aicred.Finding) (aicred.Verification, string, error) {
				return aicred.Unknown, "", errors.New("failed for " + f.Secret.Reveal())
			},
			func(_ context.Context, _ *http.Client, _ string, f *aicred.Finding) (aicred.Verification, string, error) {
				panic("boom " + f.Secret.Reveal())
			},
		} {
			k := synthetic(fmt.Sprintf("leaky%d", i), &provider.Liveness{BaseURL: "https://api.invalid", Probe: p})
			v := newVerifier(Options{Retries: -1}, k)
			f := finding(k, key)
			f.Related = map[string]aicred.Secret{"other": aicred.NewSecret(rel)}
			check(t, v, f) // noLeak inside
		}
	})
}

func TestCancellation(t *testing.T) {
	k := catalogKind(t, "openai", "project-key")

	t.Run("already cancelled", func(t *testing.T) {
		s := newServer(t, reply(200, `{"data":[]}`))
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		fs := []*aicred.Finding{finding(k, keyFor(t, k, 130)), finding(k, keyFor(t, k, 131))}
		v.VerifyAll(ctx, fs)
		for _, f := range fs {
			if f.Verification != aicred.NotChecked {
				t.Errorf("state = %s (%s), want not-checked", f.Verification, f.VerifyDetail)
			}
		}
		if s.hits.Load() != 0 {
			t.Errorf("requests = %d after cancellation", s.hits.Load())
		}
	})

	t.Run("cancelled in flight, not cached", func(t *testing.T) {
		var hang atomic.Bool
		hang.Store(true)
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if hang.Load() {
				<-r.Context().Done()
				return
			}
			fmt.Fprint(w, `{"data":[]}`)
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"openai": s.URL}})
		key := keyFor(t, k, 132)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		st, d := v.Verify(ctx, finding(k, key))
		noLeak(t, d)
		if st != aicred.Unknown || time.Since(start) > 2*time.Second {
			t.Errorf("state = %s (%s) after %s, want unknown promptly", st, d, time.Since(start))
		}
		hang.Store(false)
		if st, _ := check(t, v, finding(k, key)); st != aicred.Live {
			t.Errorf("after cancellation: %s, want live (a cancelled check is not cached)", st)
		}
	})
}

// TestCanaryEcho has a server that echoes whatever credential it receives
// into its answer, under every status; no detail may carry it.
func TestCanaryEcho(t *testing.T) {
	for _, status := range []int{200, 201, 301, 400, 401, 403, 404, 418, 429, 500, 503} {
		k := synthetic("echo", &provider.Liveness{
			BaseURL: "https://api.invalid", Path: "/echo", Auth: provider.Auth{Related: "secret_key"},
			Live: []int{200}, NoPermission: []int{403}, LiveBody: []string{"never-present"},
		})
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			u, p, _ := r.BasicAuth()
			w.Header().Set("X-Echo", u+":"+p)
			w.Header().Set("Location", "https://elsewhere.invalid/?k="+u)
			w.WriteHeader(status)
			fmt.Fprintf(w, "you sent %s and %s (%s)", u, p, r.Header.Get("Authorization"))
		})
		v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
		f := finding(k, testKey(uint64(140+status)))
		f.Related = map[string]aicred.Secret{"secret_key": aicred.NewSecret(testKey(uint64(1140 + status)))}
		check(t, v, f)
		v.VerifyAll(context.Background(), []*aicred.Finding{f})
		noLeak(t, f.VerifyDetail)
	}
}

func TestRetryAfterParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"": -1, "0": 0, "2": 2 * time.Second, "-5": 0, "soon": -1} {
		h := http.Header{}
		if in != "" {
			h.Set("Retry-After", in)
		}
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if got := retryAfter(h); got < 59*time.Minute {
		t.Errorf("date Retry-After = %s", got)
	}
}
