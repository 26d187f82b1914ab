package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testKeys are generated once per test binary: real RSA-2048, ECDSA P-256
// and Ed25519 keys, plus an attacker's RSA key.
type testKeys struct {
	rsa      *rsa.PrivateKey
	rsa2     *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	attacker *rsa.PrivateKey
	small    *rsa.PrivateKey // 1024 bits: must be skipped in a JWKS
}

var fixtureKeys = sync.OnceValue(func() *testKeys {
	must := func(k *rsa.PrivateKey, err error) *rsa.PrivateKey {
		if err != nil {
			panic(err)
		}
		return k
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return &testKeys{
		rsa: must(rsa.GenerateKey(rand.Reader, 2048)), rsa2: must(rsa.GenerateKey(rand.Reader, 2048)),
		ec: ec, ed: ed, attacker: must(rsa.GenerateKey(rand.Reader, 2048)),
		small: must(rsa.GenerateKey(rand.Reader, 1024)),
	}
})

// testClock is a settable clock shared by the verifiers, caches and stores.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwk returns the public JWK of a private key.
func jwk(priv any, kid, use string) jose.JSONWebKey {
	var pub any
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		pub = k.Public()
	}
	return jose.JSONWebKey{Key: pub, KeyID: kid, Use: use}
}

func jwksJSON(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idp is a local OIDC issuer over TLS: discovery document and JWKS, with
// fetch counters and a switch that takes it down.
type idp struct {
	srv       *httptest.Server
	issuer    string
	mu        sync.Mutex
	jwks      []byte
	jwksHits  atomic.Int64
	discHits  atomic.Int64
	down      atomic.Bool
	badIssuer atomic.Bool
}

func newIDP(t testing.TB, keys ...jose.JSONWebKey) *idp {
	t.Helper()
	p := &idp{}
	p.setKeys(t, keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer
		if p.badIssuer.Load() {
			iss = "https://evil.example"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.issuer + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(p.jwks)
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL
	return p
}

func (p *idp) setKeys(t testing.TB, keys ...jose.JSONWebKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwks = jwksJSON(t, keys...)
}

// signJWT signs claims as a compact JWS with a real key.
func signJWT(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range hdr {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawJWT assembles a token from a header and claims and an arbitrary
// signature, for forgeries no library will produce.
func rawJWT(t testing.TB, hdr, claims map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

func publicKeyPEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// fixture is a broker with four proofs: GitHub Actions and generic OIDC
// over discovery from local TLS issuers, Kubernetes with a static JWKS,
// SPIFFE with a static bundle; roles, policies and a memory store.
type fixture struct {
	t      testing.TB
	keys   *testKeys
	clock  *testClock
	github *idp
	oidc   *idp
	k8sIss string
	x      *Exchanger
	tokens *MemoryTokenStore
	logBuf *syncBuffer
	cfg    *Config
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	testAudience    = "https://aicred.test"
	k8sIssuer       = "https://kubernetes.default.svc.cluster.local"
	testTrustDomain = "example.org"
)

const fixtureConfig = `
issuers:
  - name: github
    type: github-actions
    issuer: {{GITHUB}}
    audiences: [{{AUD}}]
    replay_protection: true
    refresh_interval: 5m
    min_refresh_interval: 30s
    max_cache_age: 1h
  - name: corp
    type: oidc
    issuer: {{OIDC}}
    audiences: [{{AUD}}, other]
  - name: prod-cluster
    type: kubernetes
    issuer: {{K8S}}
    audiences: [aicred]
    jwks: '{{K8SJWKS}}'
  - name: spire
    type: spiffe
    trust_domain: example.org
    audiences: [aicred]
    jwks: '{{BUNDLE}}'
roles:
  - name: ci
    providers: [openai, anthropic]
    credentials: [hc_ci]
    models: ["gpt-4o*", "claude-*"]
    operations: [chat, embeddings, models]
    audiences: [aicred-gateway]
    resources: [https://gateway.example/v1]
    environment: prod
    ttl: 15m
    budget: {per_token_usd: 5, per_workload_daily_usd: 50}
    rate: {requests_per_minute: 60, tokens_per_minute: 100000, concurrent: 4}
  - name: training
    providers: [openai]
    credentials: [hc_train]
    models: [gpt-4o-mini]
    operations: [chat, fine-tuning, files]
    ttl: 30m
policies:
  - name: api-main
    issuer: github
    role: ci
    claims:
      repository: acme/api
      ref: refs/heads/main
  - name: corp-svc
    issuer: corp
    role: ci
    claims:
      sub: svc-1
  - name: ml-trainer
    issuer: prod-cluster
    role: training
    claims:
      namespace: ml
      service_account: trainer
  - name: spiffe-ml
    issuer: spire
    role: training
    claims:
      sub: {glob: "spiffe://example.org/ns/ml/*"}
`

func newFixture(t testing.TB, opts ...func(*BuildOptions)) *fixture {
	t.Helper()
	k := fixtureKeys()
	f := &fixture{t: t, keys: k, clock: newTestClock(), logBuf: &syncBuffer{}}
	f.github = newIDP(t, jwk(k.rsa, "gh-rsa", "sig"), jwk(k.ec, "gh-ec", "sig"))
	f.oidc = newIDP(t, jwk(k.rsa2, "corp-1", ""))
	f.k8sIss = k8sIssuer
	k8sJWKS := jwksJSON(t, jwk(k.ed, "k8s-ed", "sig"), jwk(k.rsa, "k8s-rsa", "sig"))
	bundle := jwksJSON(t, jwk(k.ec, "spire-ec", "jwt-svid"), jwk(k.rsa2, "spire-x509", "x509-svid"))
	cfgText := strings.NewReplacer(
		"{{GITHUB}}", f.github.issuer, "{{OIDC}}", f.oidc.issuer, "{{AUD}}", testAudience,
		"{{K8S}}", k8sIssuer, "{{K8SJWKS}}", string(k8sJWKS), "{{BUNDLE}}", string(bundle),
	).Replace(fixtureConfig)
	cfg, err := ParseConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.tokens = NewMemoryTokenStore(f.clock.Now)
	bo := BuildOptions{
		HTTPClient: f.github.srv.Client(),
		Tokens:     f.tokens,
		Logger:     slog.New(slog.NewJSONHandler(f.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:      f.clock.Now,
	}
	for _, o := range opts {
		o(&bo)
	}
	f.x, err = cfg.Build(bo)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) now() time.Time { return f.clock.Now() }

func randomJTI() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (f *fixture) githubClaims() map[string]any {
	now := f.now().Unix()
	return map[string]any{
		"iss": f.github.issuer, "aud": testAudience,
		"sub":        "repo:acme/api:ref:refs/heads/main",
		"repository": "acme/api", "repository_owner": "acme", "repository_id": "123456",
		"repository_owner_id": "42", "ref": "refs/heads/main", "ref_type": "branch",
		"environment": "prod", "event_name": "push", "workflow": "release",
		"job_workflow_ref":   "acme/api/.github/workflows/release.yml@refs/heads/main",
		"runner_environment": "github-hosted",
		"jti":                randomJTI(), "iat": now, "nbf": now, "exp": now + 300,
	}
}

func (f *fixture) githubToken(mod func(map[string]any)) string {
	c := f.githubClaims()
	if mod != nil {
		mod(c)
	}
	return signJWT(f.t, f.keys.rsa, jose.RS256, "gh-rsa", c, nil)
}

func (f *fixture) k8sClaims() map[string]any {
	now := f.now().Unix()
	return map[string]any{
		"iss": k8sIssuer, "aud": []string{"aicred"},
		"sub": "system:serviceaccount:ml:trainer",
		"kubernetes.io": map[string]any{
			"namespace":      "ml",
			"serviceaccount": map[string]any{"name": "trainer", "uid": "sa-uid-1"},
			"pod":            map[string]any{"name": "trainer-7d9f", "uid": "pod-uid-1"},
			"node":           map[string]any{"name": "node-a", "uid": "node-uid-1"},
			"warnafter":      now + 2880,
		},
		"iat": now, "nbf": now, "exp": now + 3600,
	}
}

func (f *fixture) k8sToken(mod func(map[string]any)) string {
	c := f.k8sClaims()
	if mod != nil {
		mod(c)
	}
	return signJWT(f.t, f.keys.ed, jose.EdDSA, "k8s-ed", c, nil)
}

func (f *fixture) spiffeClaims() map[string]any {
	now := f.now().Unix()
	return map[string]any{
		"sub": "spiffe://example.org/ns/ml/sa/trainer", "aud": []string{"aicred"},
		"iat": now, "exp": now + 300,
	}
}

func (f *fixture) spiffeToken(mod func(map[string]any)) string {
	c := f.spiffeClaims()
	if mod != nil {
		mod(c)
	}
	return signJWT(f.t, f.keys.ec, jose.ES256, "spire-ec", c, nil)
}

func (f *fixture) oidcToken(mod func(map[string]any)) string {
	now := f.now().Unix()
	c := map[string]any{
		"iss": f.oidc.issuer, "aud": []string{"other", testAudience}, "sub": "svc-1",
		"email": "svc-1@corp.example", "groups": []string{"a", "b"},
		"org": map[string]any{"unit": "ml", "id": 7},
		"iat": now, "exp": now + 600,
	}
	if mod != nil {
		mod(c)
	}
	return signJWT(f.t, f.keys.rsa2, jose.RS256, "corp-1", c, nil)
}

// form is a token-exchange request body.
func exchangeForm(token string, extra ...string) url.Values {
	v := url.Values{
		"grant_type":         {GrantTypeTokenExchange},
		"subject_token":      {token},
		"subject_token_type": {TokenTypeJWT},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

// post sends a form to the exchanger's handler and returns the recorder.
func (f *fixture) post(form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	f.x.ServeHTTP(rec, req)
	return rec
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	IssuedTokenType  string `json:"issued_token_type"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func decodeResponse(t testing.TB, rec *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	var r tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, rec.Body.String())
	}
	return r
}

// logRecords returns the JSON log lines with the given message.
func (f *fixture) logRecords(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.logBuf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			f.t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// assertNoSecret fails if the token, or any long piece of it, appears in s.
func assertNoSecret(t testing.TB, where, s, token string) {
	t.Helper()
	if token == "" {
		return
	}
	if strings.Contains(s, token) {
		t.Fatalf("%s contains the token", where)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(s, part) {
			t.Fatalf("%s contains a part of the token: %.20s...", where, part)
		}
	}
}
