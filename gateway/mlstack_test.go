package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
)

// mlCall is one request an ML stack upstream received.
type mlCall struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         []byte
}

// mlServer is a local server answering as one ML stack API documents it;
// it records every request and fails the test when one carries an aicred
// token.
type mlServer struct {
	*httptest.Server
	t      *testing.T
	mu     sync.Mutex
	calls  []mlCall
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newMLServer(t *testing.T, tlsServer bool, h func(w http.ResponseWriter, r *http.Request, body []byte)) *mlServer {
	s := &mlServer{t: t, handle: h}
	hf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(headerText(r.Header)+r.URL.RawQuery+string(body), provider.TokenPrefixWorkload) {
			t.Errorf("%s %s: an aicred token reached the upstream", r.Method, r.URL.Path)
		}
		s.mu.Lock()
		s.calls = append(s.calls, mlCall{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), body})
		s.mu.Unlock()
		s.handle(w, r, body)
	})
	if tlsServer {
		s.Server = httptest.NewTLSServer(hf)
	} else {
		s.Server = httptest.NewServer(hf)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *mlServer) Calls() []mlCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mlCall(nil), s.calls...)
}

// mlFix is a gateway with the ML stack surfaces in front of local
// servers, a role with ML grants and a token for it.
type mlFix struct {
	*fixture
	role    *broker.Role
	keys    map[string]string // provider -> held key
	tok     string
	objects *MemoryObjects
}

// newMLFix builds the gateway; ups maps Upstreams keys to base URLs.
func newMLFix(t *testing.T, seed uint64, ups map[string]string, mod func(*Config)) *mlFix {
	g := provider.NewGen(seed)
	m := &mlFix{keys: map[string]string{}, objects: NewMemoryObjects()}
	m.role = &broker.Role{
		Name:         "chat-role",
		Repositories: []broker.ResourceGrant{{Name: "acme/*", Access: "write"}, {Name: "datasets/acme/*", Access: "read"}, {Name: "public/*", Access: "read"}},
		Experiments:  []broker.ResourceGrant{{Name: "train-*", Access: "write"}, {Name: "shared", Access: "read"}, {Name: "acme/vision", Access: "write"}, {Name: "acme/readonly", Access: "read"}},
		Indexes:      []broker.ResourceGrant{{Name: "docs", Access: "write"}, {Name: "ro", Access: "read"}, {Name: "coll-*", Access: "write"}},
		HTTP: []broker.HTTPGrant{
			{Upstream: "tool", Methods: []string{"GET"}, Paths: []string{"/v1/items", "/v1/items/*"}},
			{Upstream: "tool", Methods: []string{"POST"}, Paths: []string{"/v1/items"}},
		},
	}
	m.fixture = newFixture(t, seed, func(c *Config) {
		for k, v := range ups {
			c.Upstreams[k] = v
		}
		c.Objects = m.objects
		c.Roles = func(name string) (*broker.Role, bool) { return m.role, name == m.role.Name }
		if mod != nil {
			mod(c)
		}
	})
	for _, p := range []string{"huggingface", "databricks", "wandb", "pinecone", "qdrant", "replicate"} {
		key := "k-" + p + "-" + g.Alnum(40)
		m.keys[p] = key
		m.addHeld(t, "hc_ml_"+p, p, "api-key", key)
	}
	scope := []string{"registry", "tracking", "vectors", "http"}
	for p := range m.keys {
		scope = append(scope, "provider:"+p)
	}
	m.tok, _ = m.issue(t, g, scope)
	return m
}

// do sends a request with the token as the surface's SDK sends it.
func (m *mlFix) do(t *testing.T, method, path string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, m.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Authorization" {
			req.Header.Del("Authorization")
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m.noKey(t, method+" "+path, resp.Header, b)
	return resp, b
}

// noKey fails when any form of a held key is in an answer.
func (m *mlFix) noKey(t *testing.T, what string, h http.Header, body []byte) {
	t.Helper()
	seen := headerText(h) + string(body)
	for _, k := range m.keys {
		for _, form := range []string{k, k[len(k)-12:], base64.StdEncoding.EncodeToString([]byte(k)), base64.StdEncoding.EncodeToString([]byte("api:" + k))} {
			if strings.Contains(seen, form) {
				t.Fatalf("%s: the client saw held-key bytes", what)
			}
		}
	}
}

// lastRecord waits for the n-th usage record and checks it is metered in
// bytes at cost 0.
func (m *mlFix) lastRecord(t *testing.T, n int, prov, op, resource string) UsageRecord {
	t.Helper()
	r := m.waitRecords(t, n)[n-1]
	if r.Provider != prov || r.Operation != op || r.Model != resource {
		t.Fatalf("usage record: provider %q operation %q model %q, want %q %q %q", r.Provider, r.Operation, r.Model, prov, op, resource)
	}
	if r.Usage.Unit != aicred.UnitByte || r.Usage.Units <= 0 || r.CostUSD != 0 {
		t.Fatalf("usage record: %+v, want bytes at cost 0", r.Usage)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

// refused asserts a 403 that reached no upstream and wrote no record.
func (m *mlFix) refused(t *testing.T, s *mlServer, method, path string, body []byte, hdr ...string) {
	t.Helper()
	// A forwarded call's record is written after its answer reached the
	// client: let the earlier calls' records land before counting.
	settled := func() int {
		n, same := len(m.usage.Records()), 0
		for deadline := time.Now().Add(2 * time.Second); same < 3 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			if k := len(m.usage.Records()); k == n {
				same++
			} else {
				n, same = k, 0
			}
		}
		return n
	}
	before, recs := len(s.Calls()), settled()
	resp, b := m.do(t, method, path, body, hdr...)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s %s: status %d (%s), want 403", method, path, resp.StatusCode, b)
	}
	if len(s.Calls()) != before {
		t.Fatalf("%s %s: refused, yet the upstream was called", method, path)
	}
	if settled() != recs {
		t.Fatalf("%s %s: refused, yet usage was recorded", method, path)
	}
}

// toTLS dials every address at the TLS server ts (for hosts such as
// Pinecone's data planes that the tests cannot name otherwise).
func toTLS(ts *httptest.Server) http.RoundTripper {
	t := ts.Client().Transport.(*http.Transport).Clone()
	addr := ts.Listener.Addr().String()
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: t.TLSClientConfig.RootCAs, ServerName: "example.com"}
	return t
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
