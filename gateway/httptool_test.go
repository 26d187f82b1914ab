package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// An upstream of kind http in each injection form: the held key goes
// where the upstream takes it, only the role's methods and path globs
// pass, only the listed query parameters are forwarded, usage is
// requests and bytes, and an upstream that echoes everything it received
// shows the client no byte of the key.
func TestHTTPUpstreamInjectAndScope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject HTTPInject
		got    func(r *http.Request) string
		prefix string
	}{
		{"bearer", HTTPInject{Bearer: true}, func(r *http.Request) string { return r.Header.Get("Authorization") }, "Bearer "},
		{"header", HTTPInject{Header: "X-Tool-Key"}, func(r *http.Request) string { return r.Header.Get("X-Tool-Key") }, ""},
		{"basic", HTTPInject{Basic: "svc"}, func(r *http.Request) string {
			u, p, _ := r.BasicAuth()
			return u + ":" + p
		}, "svc:"},
		{"query", HTTPInject{Query: "api_key"}, func(r *http.Request) string { return r.URL.Query().Get("api_key") }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var key string
			var srv *mlServer
			srv = newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if tc.got(r) != tc.prefix+key {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				// Echo everything: headers, query and body.
				w.Header().Set("X-Echo", headerText(r.Header))
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"query":%q,"headers":%q,"body":%q}`, r.URL.RawQuery, headerText(r.Header), body)
			})
			m := newMLFix(t, 1307, nil, func(c *Config) {
				c.MLStack.HTTP = []HTTPUpstream{{Name: "tool", BaseURL: srv.URL + "/base", Credential: "replicate", Inject: tc.inject, Query: []string{"page", "api_key"}}}
			})
			key = m.keys["replicate"]
			resp, b := m.do(t, "GET", "/http/tool/v1/items/42?page=2&evil=1&api_key=mine", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET: %d %s", resp.StatusCode, b)
			}
			// The client's api_key is forwarded (listed) unless it is where
			// the key goes: then only the gateway sets it.
			c := srv.Calls()[0]
			if c.path != "/base/v1/items/42" || strings.Contains(c.query, "evil") || (tc.inject.Query != "") == strings.Contains(c.query, "mine") || !strings.Contains(c.query, "page=2") {
				t.Fatalf("reached the tool as %s ? %s", c.path, c.query)
			}
			r := m.lastRecord(t, 1, "replicate", "http", "tool GET /v1/items/42")
			if r.Usage.Units < int64(len(b)) {
				t.Fatalf("bytes recorded %d, answer was %d", r.Usage.Units, len(b))
			}
			if resp, _ := m.do(t, "POST", "/http/tool/v1/items", []byte(`{"name":"x"}`)); resp.StatusCode != 200 {
				t.Fatalf("POST: %d", resp.StatusCode)
			}
			m.lastRecord(t, 2, "replicate", "http", "tool POST /v1/items")
			for _, c := range []struct{ method, path string }{
				{"DELETE", "/http/tool/v1/items/42"},
				{"POST", "/http/tool/v1/items/42"},
				{"GET", "/http/tool/v1/admin"},
				{"GET", "/http/tool/v1/items/..%2F..%2Fadmin"},
				{"GET", "/http/tool/v1/items%2F..%2Fadmin"},
			} {
				before := len(srv.Calls())
				resp, _ := m.do(t, c.method, c.path, nil)
				if resp.StatusCode < 400 || len(srv.Calls()) != before {
					t.Fatalf("%s %s: %d, reached the tool: %v", c.method, c.path, resp.StatusCode, len(srv.Calls()) != before)
				}
			}
			// Another upstream name is not served.
			if resp, _ := m.do(t, "GET", "/http/other/v1/items", nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("unknown upstream: %d", resp.StatusCode)
			}
		})
	}
}

func TestHTTPUpstreamConfigRefused(t *testing.T) {
	for _, u := range []HTTPUpstream{
		{Name: "Bad Name", BaseURL: "https://x.test", Credential: "replicate", Inject: HTTPInject{Bearer: true}},
		{Name: "t", BaseURL: "ftp://x.test", Credential: "replicate", Inject: HTTPInject{Bearer: true}},
		{Name: "t", BaseURL: "https://u:p@x.test", Credential: "replicate", Inject: HTTPInject{Bearer: true}},
		{Name: "t", BaseURL: "https://x.test", Inject: HTTPInject{Bearer: true}},
		{Name: "t", BaseURL: "https://x.test", Credential: "replicate", Inject: HTTPInject{Bearer: true, Header: "X-K"}},
		{Name: "t", BaseURL: "https://x.test", Credential: "replicate"},
		{Name: "t", BaseURL: "https://x.test", Credential: "replicate", Inject: HTTPInject{Header: "X K"}},
	} {
		if u.Validate() == nil {
			t.Errorf("%+v: accepted", u)
		}
	}
	// Two upstreams of one name are refused when the gateway is built.
	f := newFixture(t, 1308, nil)
	up := HTTPUpstream{Name: "t", BaseURL: "https://x.test", Credential: "replicate", Inject: HTTPInject{Bearer: true}}
	if _, err := New(Config{Tokens: f.tokens, Held: f.held, Opener: f.ring, Usage: f.usage, MLStack: MLStack{HTTP: []HTTPUpstream{up, up}}}); err == nil {
		t.Fatal("a repeated http upstream was accepted")
	}
}
