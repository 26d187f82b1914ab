package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
)

// heldMap is a HeldStore in memory.
type heldMap map[string]*aicred.HeldCredential

func (m heldMap) GetHeldCredential(_ context.Context, id string) (*aicred.HeldCredential, error) {
	h, ok := m[id]
	if !ok {
		return nil, aicred.Errorf(aicred.ErrNotFound, "held %s: not found", id)
	}
	return h, nil
}

// fixture is a gateway in front of two fake providers.
type fixture struct {
	t         *testing.T
	gw        *Gateway
	srv       *httptest.Server
	tokens    *broker.MemoryTokenStore
	usage     *MemoryRecorder
	openaiKey string
	antKey    string
	token     string // workload token allowed gpt-4o-mini and claude-haiku-4-5*
	grantID   string
	held      heldMap
	ring      *seal.Keyring
	creds     []string // held credential ids granted to tokens issued

	mu       sync.Mutex
	calls    int
	lastBody []byte
	// upstream answers a request; set per test.
	openai    http.HandlerFunc
	anthropic http.HandlerFunc
}

func newFixture(t testing.TB, seed uint64, mod func(*Config)) *fixture {
	tt, _ := t.(*testing.T)
	f := &fixture{t: tt, usage: &MemoryRecorder{}}
	g := provider.NewGen(seed)
	f.openaiKey = "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)
	f.antKey = "sk-ant-api03-" + g.URL64(93) + "AA"

	up := func(want string, name string, h *http.HandlerFunc) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			if name == "anthropic" {
				got = r.Header.Get("X-Api-Key")
			}
			body, _ := io.ReadAll(r.Body)
			all := headerText(r.Header) + string(body)
			if got != want && got != "Bearer "+want {
				t.Errorf("%s upstream: held key not received (got %q)", name, redact(got))
			}
			if strings.Contains(all, provider.TokenPrefixWorkload) {
				t.Errorf("%s upstream: received an aicred token", name)
			}
			f.mu.Lock()
			f.calls++
			f.lastBody = body
			hf := *h
			f.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			hf(w, r)
		}))
	}
	oai := up(f.openaiKey, "openai", &f.openai)
	ant := up(f.antKey, "anthropic", &f.anthropic)
	t.Cleanup(oai.Close)
	t.Cleanup(ant.Close)

	master := make([]byte, seal.KeySize)
	_, _ = rand.Read(master)
	ring, err := seal.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	held := heldMap{}
	f.held, f.ring = held, ring
	f.addHeld(t, "hc_openai", "openai", "project-key", f.openaiKey)
	f.addHeld(t, "hc_ant", "anthropic", "api-key", f.antKey)
	f.tokens = broker.NewMemoryTokenStore(nil)
	f.token, f.grantID = f.issue(t, g, []string{"chat", "model:gpt-4o-mini", "model:claude-haiku-4-5*", "provider:openai", "provider:anthropic"})

	c := Config{
		Tokens: f.tokens, Held: held, Opener: ring, Usage: f.usage,
		Upstreams: map[string]string{"openai": oai.URL, "anthropic": ant.URL},
	}
	if mod != nil {
		mod(&c)
	}
	f.gw, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.gw)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) issue(t testing.TB, g *provider.Gen, scope []string) (token, id string) {
	token = provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen))
	id = "tok_" + g.Hex(24)
	err := f.tokens.IssueGrant(context.Background(), &aicred.Grant{
		ID: id, TokenHash: aicred.HashToken(token), Class: aicred.TokenWorkload,
		Issuer: "https://issuer.test", Subject: "workload-a", Role: "chat-role",
		Scope: scope, Credentials: f.creds,
		ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return token, id
}

// addHeld seals secret as held credential id and grants it to tokens
// issued from now on.
func (f *fixture) addHeld(t testing.TB, id, provider, kind, secret string) {
	s := aicred.NewSecret(secret)
	h := &aicred.HeldCredential{ID: id, Provider: provider, Kind: kind, Fingerprint: s.Fingerprint()}
	var err error
	h.Sealed, h.KeyID, err = f.ring.Seal(s, h.AAD())
	if err != nil {
		t.Fatal(err)
	}
	f.held[id] = h
	f.creds = append(f.creds, id)
}

func (f *fixture) upstreamCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

func redact(s string) string {
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}

// waitRecords waits for n usage records (the record is written when the
// proxy finishes the body, which may be just after the client returns).
func (f *fixture) waitRecords(t testing.TB, n int) []UsageRecord {
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := f.usage.Records()
		if len(r) >= n || time.Now().After(deadline) {
			if len(r) != n {
				t.Fatalf("usage records: got %d, want %d: %+v", len(r), n, r)
			}
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sse writes events to w, flushing each.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	for _, e := range events {
		_, _ = io.WriteString(w, e)
		fl.Flush()
	}
}

func nil2gen(seed uint64) *provider.Gen { return provider.NewGen(seed) }
