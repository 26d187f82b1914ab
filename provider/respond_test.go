package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred"
)

// fake is a provider API answering as documented: routes map "METHOD
// /path" to a handler; every request is recorded; a request whose auth
// header differs from the expected one is answered 401 as the provider
// would.
type fake struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []string
	bodies map[string]string
	routes map[string]route
}

// add answers key ("METHOD /path") with h from now on.
func (f *fake) add(key string, h route) { f.mu.Lock(); f.routes[key] = h; f.mu.Unlock() }

type route func(w http.ResponseWriter, r *http.Request, body []byte)

func newFake(t *testing.T, authHeader, authValue string, routes map[string]route) *fake {
	f := &fake{bodies: map[string]string{}, routes: routes}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.EscapedPath()
		f.mu.Lock()
		f.seen = append(f.seen, key)
		f.bodies[key] = string(body)
		h, ok := f.routes[key]
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if authHeader != "" && r.Header.Get(authHeader) != authValue {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"message":"not found","type":"not_found_error"}}`)
			return
		}
		h(w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func jsonRoute(status int, v any) route {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
}

// noSecret fails when any of secrets appears in v (a Reach, an error).
func noSecret(t *testing.T, what string, v any, secrets ...string) {
	t.Helper()
	var text string
	switch x := v.(type) {
	case error:
		if x == nil {
			return
		}
		text = x.Error()
	default:
		b, _ := json.Marshal(v)
		text = string(b)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("%s leaks secret material: %s", what, aicred.Redact(text))
		}
	}
}

// TestRespondCatalog: every trace and rotation cites its documentation,
// has a default https base and something to run; a rotation that is not
// its own admin names a real catalog kind as its admin.
func TestRespondCatalog(t *testing.T) {
	traces, rotations := 0, 0
	for _, k := range Kinds() {
		name := k.Provider().ID + "/" + k.ID
		httpsURL := func(what, s string) {
			u, err := url.Parse(s)
			if s == "" || err != nil || u.Scheme != "https" || u.Host == "" {
				t.Errorf("%s: %s %q, want an https URL", name, what, s)
			}
		}
		if tr := k.Trace; tr != nil {
			traces++
			httpsURL("trace docs", tr.Docs)
			httpsURL("trace base", tr.BaseURL)
			if tr.Run == nil {
				t.Errorf("%s: trace without Run", name)
			}
		}
		if rot := k.Rotation; rot != nil {
			rotations++
			httpsURL("rotation docs", rot.Docs)
			httpsURL("rotation base", rot.BaseURL)
			if rot.Revoke == nil {
				t.Errorf("%s: rotation without Revoke", name)
			}
			if !rot.SelfAdmin {
				p, kind, ok := strings.Cut(rot.AdminKind, "/")
				if _, found := LookupKind(p, kind); !ok || !found {
					t.Errorf("%s: AdminKind %q is not a catalog kind", name, rot.AdminKind)
				}
			} else if rot.AdminKind != "" {
				t.Errorf("%s: SelfAdmin with AdminKind %q", name, rot.AdminKind)
			}
		}
	}
	if traces == 0 || rotations == 0 {
		t.Fatalf("%d traces, %d rotations in the catalog", traces, rotations)
	}
}

func TestRedactedMatch(t *testing.T) {
	g := NewGen(11)
	key := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	tail := key[len(key)-4:]
	for _, tt := range []struct {
		redacted string
		want     bool
	}{
		{"sk-proj-..." + tail, true},
		{"sk-...." + tail[1:], false}, // elision then a dot: three shown characters, too few
		{"sk-proj-****" + tail, true},
		{"sk-proj-…" + tail, true},
		{key[:12] + "..." + tail, true},
		{"sk-admin-..." + tail, false},
		{"sk-proj-...abcd", tail == "abcd"},
		{"sk-proj-..." + tail[1:], false}, // too few characters shown
		{"no elision", false},
		{"a...b...c" + tail, false},
		{"", false},
	} {
		if got := redactedMatch(tt.redacted, key); got != tt.want {
			t.Errorf("redactedMatch(%q) = %v, want %v", aicred.Redact(tt.redacted), got, tt.want)
		}
	}
}

func FuzzRedactedMatch(f *testing.F) {
	f.Add("sk-abc...wxyz", "sk-abcdefwxyz")
	f.Add("sk-ant-api03-R2D...igAA", "sk-ant-api03-R2Dxxxxxxxxxx-igAA")
	f.Add("***", "")
	f.Fuzz(func(t *testing.T, redacted, key string) {
		if redactedMatch(redacted, key) {
			head, tail, ok := splitRedacted(redacted)
			if !ok || !strings.HasPrefix(key, head) || !strings.HasSuffix(key, tail) || len(tail) < 4 {
				t.Fatalf("matched %q against %q", redacted, key)
			}
		}
	})
}

func TestCallErrorNamesNoSecret(t *testing.T) {
	g := NewGen(12)
	key := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	// A provider that quotes the key back in its error message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error","code":"%s"}}`, key, key)
	}))
	defer srv.Close()
	_, err := apiCall{provider: "openai", name: "list models", method: "GET", url: srv.URL + "/v1/models", path: "/v1/models",
		header: openaiAuth(aicred.NewSecret(key))}.do(context.Background(), srv.Client(), nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != 401 || !ce.Denied() || !strings.Contains(err.Error(), "list models (GET /v1/models)") {
		t.Fatalf("got %v, want a 401 CallError naming the call", err)
	}
	noSecret(t, "error", err, key, key[:20], key[len(key)-20:])

	// A code-shaped credential echoed where a code belongs is left out.
	token := "hf_" + g.Alnum(34)
	body := []byte(`{"error":{"type":"invalid_token","code":"` + token + `"}}`)
	if got := errorCode(body, "Bearer "+token); got != "invalid_token" {
		t.Fatalf("errorCode = %q, want only invalid_token", aicred.Redact(got))
	}
}

// FuzzRespondParsers: the credential parsers of the traces and rotations
// never panic and never quote their input in an error.
func FuzzRespondParsers(f *testing.F) {
	g := NewGen(13)
	f.Add(awsKeyIDFor(g, "AKIA", 123456789012) + ":" + g.B64(40))
	f.Add(`{"type":"service_account","client_email":"a@b-cdefg.iam.gserviceaccount.com","private_key":"` + fakePKCS8(g, `\n`) + `"}`)
	f.Add(`{"error":{"code":"invalid_api_key","type":"x"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		s := aicred.NewSecret(in)
		check := func(what string, err error) {
			if err != nil && len(in) >= 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("%s error quotes its input", what)
			}
		}
		_, err := awsPair(s)
		check("awsPair", err)
		_, err = gcpParseKey(s, map[string]string{"client_email": "a@b-cdefg.iam.gserviceaccount.com"})
		check("gcpParseKey", err)
		if c := errorCode([]byte(in)); len(c) > 3*64+2 {
			t.Fatalf("error code of %d bytes", len(c))
		}
		splitRedacted(in)
	})
}
