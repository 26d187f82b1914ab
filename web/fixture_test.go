package web

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

// world is a console on a real SQLite store, beside a real gateway on
// the same grant cache, the way aicred serve wires them; the provider
// behind the gateway is a local server answering as OpenAI documents.
type world struct {
	st       *sqlite.Store
	dbPath   string
	ring     *seal.Keyring
	tokens   *grantcache.Cache
	con      *Console
	srv      *httptest.Server
	upstream *httptest.Server
	// secrets are every key-shaped value seeded: none may appear in a
	// page.
	secrets   []string
	openaiKey string
	heldFP    aicred.Fingerprint
	leakFP    aicred.Fingerprint
	writeTok  string // admin token, scope write
	readTok   string // admin token, scope read
	workTok   string // workload token using hc_openai
	workID    string
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newWorld(t testing.TB, oidc *OIDCConfig) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{}
	g := provider.NewGen(15)
	var err error
	w.dbPath = filepath.Join(t.TempDir(), "aicred.db")
	w.st, err = sqlite.Open(ctx, w.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	master := make([]byte, seal.KeySize)
	_, _ = rand.Read(master)
	if w.ring, err = seal.NewKeyring(master); err != nil {
		t.Fatal(err)
	}
	w.openaiKey = "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)
	leak := "sk-ant-api03-" + g.URL64(93) + "AA"
	w.secrets = append(w.secrets, w.openaiKey, leak)

	// The provider behind the gateway.
	w.upstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+w.openaiKey {
			rw.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(rw, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)
	}))
	t.Cleanup(w.upstream.Close)

	// Inventory: the held key seen in a repository, and a leaked key.
	now := time.Now()
	obs := func(secret, prov, kind, path string, caps ...aicred.Capability) aicred.Observation {
		s := aicred.NewSecret(secret)
		return aicred.Observation{Provider: prov, Kind: kind, Redacted: s.Redacted(), Capabilities: caps, Sighting: aicred.Sighting{
			Fingerprint: s.Fingerprint(), Rule: prov + "-" + kind, Origin: "https://github.com/acme/app", Source: aicred.SourceGit,
			Path: path, Line: 3, Commit: g.Hex(40), AuthorDate: now.Add(-72 * time.Hour)}}
	}
	if _, err := w.st.RecordSightings(ctx, []aicred.Observation{
		obs(w.openaiKey, "openai", "project-key", "config/settings.py", aicred.CapInference),
		obs(leak, "anthropic", "api-key", ".env", aicred.CapInference),
	}); err != nil {
		t.Fatal(err)
	}
	w.heldFP, w.leakFP = aicred.NewSecret(w.openaiKey).Fingerprint(), aicred.NewSecret(leak).Fingerprint()
	if err := w.st.RecordLiveness(ctx, []aicred.LivenessCheck{{Fingerprint: w.leakFP, Result: aicred.Live}}); err != nil {
		t.Fatal(err)
	}
	s := aicred.NewSecret(w.openaiKey)
	h := &aicred.HeldCredential{ID: "hc_openai", Provider: "openai", Kind: "project-key", Fingerprint: s.Fingerprint(), Redacted: s.Redacted(), Environment: "prod"}
	if h.Sealed, h.KeyID, err = w.ring.Seal(s, h.AAD()); err != nil {
		t.Fatal(err)
	}
	if err := w.st.PutHeldCredential(ctx, h); err != nil {
		t.Fatal(err)
	}

	// Tokens.
	issue := func(class, role string, scope []string, creds []string) (string, string) {
		prefix := provider.TokenPrefixAdmin
		if class == aicred.TokenWorkload {
			prefix = provider.TokenPrefixWorkload
		}
		tok := provider.FormatToken(prefix, g.Alnum(provider.TokenRandomLen))
		id := "tok_" + g.Hex(24)
		if err := w.st.IssueGrant(ctx, &aicred.Grant{ID: id, TokenHash: aicred.HashToken(tok), Class: class, Issuer: "https://issuer.test",
			Subject: "ci/deploy", Role: role, Scope: scope, Credentials: creds, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		w.secrets = append(w.secrets, tok)
		return tok, id
	}
	w.writeTok, _ = issue(aicred.TokenAdmin, "", []string{"write"}, nil)
	w.readTok, _ = issue(aicred.TokenAdmin, "", []string{"read"}, nil)
	w.workTok, w.workID = issue(aicred.TokenWorkload, "chat", []string{"chat", "model:gpt-4o-mini", "provider:openai"}, []string{"hc_openai"})

	// Usage: today and the week before, for the baseline.
	var recs []aicred.UsageRecord
	for d := range 8 {
		for i := range 5 + d {
			recs = append(recs, aicred.UsageRecord{Time: now.Add(-time.Duration(d)*24*time.Hour - time.Duration(i)*time.Minute), TokenID: w.workID,
				CredentialID: "hc_openai", Workload: "https://issuer.test ci/deploy", Role: "chat", Provider: "openai", Model: "gpt-4o-mini",
				Usage: aicred.Usage{InputTokens: 1000, OutputTokens: 200}, CostUSD: 0.35 + float64(d)*0.01, Status: 200, Outcome: aicred.OutcomeOK, SourceIP: "10.1.2.3"})
		}
	}
	if err := w.st.RecordUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}

	w.tokens = grantcache.New(w.st, quiet)
	cctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := w.tokens.Start(cctx); err != nil {
		t.Fatal(err)
	}
	rx, err := respond.New(respond.Options{Store: w.st, Sealer: w.ring, Client: w.upstream.Client(),
		BaseURLs: map[string]string{"openai": w.upstream.URL, "anthropic": w.upstream.URL}, Checks: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bc := &broker.Config{Roles: []broker.Role{{Name: "chat", Providers: []string{"openai"}, Credentials: []string{"hc_openai"},
		Models: []string{"gpt-4o*"}, Budget: broker.Budget{PerWorkloadDailyUSD: 5}}}}
	w.con, err = New(Options{Store: w.st, Tokens: w.tokens, Responder: rx, Broker: bc, OIDC: oidc, Log: quiet, PostureTTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Tokens: w.tokens, Held: w.st, Opener: w.ring, Usage: &gateway.MemoryRecorder{},
		Upstreams: map[string]string{"openai": w.upstream.URL}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", w.con.Handler())
	mux.Handle("/", gw)
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// alert raises an alert the way the gateway's detector records one,
// through the feed's tap.
func (w *world) alert(t testing.TB, id string) {
	t.Helper()
	ctx := aicred.WithActor(context.Background(), gateway.AnomalyActor)
	_, err := w.con.Alerts().Tap(w.st).AppendAudit(ctx, aicred.AuditEvent{Action: gateway.ActionAnomalyDetected, Subject: "https://issuer.test ci/deploy",
		Data: map[string]string{"alert": id, "kind": "spend_spike", "role": "chat", "token": w.workID, "suspended": "false", "cost_usd": "42.00", "baseline_usd": "0.40"}})
	if err != nil {
		t.Fatal(err)
	}
}

// callGateway makes one chat completion through the gateway with the
// workload token and returns the status.
func (w *world) callGateway(t testing.TB) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+w.workTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// client is a browser-like HTTP client: cookies, no automatic redirects
// followed across origins.
type client struct {
	t    testing.TB
	w    *world
	http *http.Client
}

func (w *world) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, w: w, http: &http.Client{Jar: jar}}
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.w.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.w.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in the page")
	}
	return m[1]
}

// login logs in with an admin token through the form.
func (c *client) login(tok string) string {
	c.t.Helper()
	_, body := c.get("/ui/login")
	resp, body := c.post("/ui/login", url.Values{"csrf": {csrfOf(c.t, body)}, "token": {tok}, "next": {"/ui/"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Overview") {
		c.t.Fatalf("login: %d %.300s", resp.StatusCode, body)
	}
	return csrfOf(c.t, body)
}

const gateway_anomaly = "anomaly.detected"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// seedMoreUsage adds a few workloads' spend today and over the week
// before, for a screenshot that shows the charts.
func (w *world) seedMoreUsage(t testing.TB) {
	t.Helper()
	now := time.Now()
	var recs []aicred.UsageRecord
	for i, wl := range []string{"batch/embeddings", "web/chat", "ci/evals", "support/agent"} {
		for d := range 8 {
			n := 3 + i
			if d == 0 && i == 1 {
				n = 24 // today's spike
			}
			for j := range n {
				recs = append(recs, aicred.UsageRecord{Time: now.Add(-time.Duration(d)*24*time.Hour - time.Duration(j)*time.Minute), TokenID: "tok_seed",
					Workload: "https://issuer.test " + wl, Role: "chat", Provider: []string{"openai", "anthropic"}[j%2],
					Model: []string{"gpt-4o-mini", "claude-haiku-4-5", "gpt-4o"}[j%3], Usage: aicred.Usage{InputTokens: 2000, OutputTokens: 400},
					CostUSD: 0.2 + float64(i)*0.1, Status: 200, Outcome: aicred.OutcomeOK})
			}
		}
	}
	if err := w.st.RecordUsage(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}
