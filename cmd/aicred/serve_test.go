package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/provider"
)

// TestMain lets a test start the real aicred binary's main as a child
// process (the test binary re-executed), for multi-process tests.
func TestMain(m *testing.M) {
	if os.Getenv("AICRED_TEST_EXEC_MAIN") == "1" {
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// issuer is a workload identity provider for tests: an RSA key whose
// public half is written as a JWKS file the server trusts.
type issuer struct {
	key      *rsa.PrivateKey
	jwksFile string
	url      string
}

func newIssuer(t testing.TB, dir string) *issuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	data, _ := json.Marshal(set)
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &issuer{key: k, jwksFile: p, url: "https://token.ci.example.test"}
}

func (is *issuer) sign(t testing.TB, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (is *issuer) workloadJWT(t testing.TB, sub string) string {
	now := time.Now()
	return is.sign(t, is.key, map[string]any{
		"iss": is.url, "sub": sub, "aud": "aicred", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
}

func serverConfigYAML(is *issuer, store string) string {
	return fmt.Sprintf(`listen: %s
store: %q
log:
  format: json
issuers:
  - name: ci
    type: oidc
    issuer: %s
    audiences: [aicred]
    jwks_file: %s
roles:
  - name: trainer-inference
    providers: [openai]
    credentials: [hc_openai_prod]
    models: ["gpt-4o*"]
    operations: [chat, embeddings]
    ttl: 10m
policies:
  - name: trainer
    issuer: ci
    role: trainer-inference
    claims:
      sub: repo:acme/trainer:ref:refs/heads/main
`, "%s", store, is.url, is.jwksFile)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitHealthy(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server at %s never became ready", base)
}

func httpDo(t testing.TB, method, u, token string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeExchangeRevoke runs `aicred serve` with a trust policy, trades
// a workload JWT for a token with `aicred token exchange`, uses it, revokes
// it from another Store on the same file with `aicred token revoke`, and
// sees the server refuse it within a second.
func TestServeExchangeRevoke(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	store := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", store)
	is := newIssuer(t, dir)
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "aicred.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(serverConfigYAML(is, store), addr))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		var out, errb strings.Builder
		code := run(ctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	base := "http://" + addr
	select {
	case res := <-done:
		t.Fatalf("serve exited %d: %s", res.code, res.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	waitHealthy(t, base)

	jwtFile := filepath.Join(dir, "jwt")
	writeFile(t, jwtFile, is.workloadJWT(t, "repo:acme/trainer:ref:refs/heads/main"))
	r := runCLI(t, "", "token", "exchange", "--server", base, "--subject-token-file", jwtFile)
	if r.code != exitOK {
		t.Fatalf("exchange: %d %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(tok, provider.TokenPrefixWorkload) || !provider.ValidToken(tok) {
		t.Fatalf("not an aicred workload token: %q", provider.TokenPrefixWorkload)
	}
	if code, body := httpDo(t, "GET", base+"/aicred/v1/whoami", tok, nil); code != 200 || !strings.Contains(body, "trainer-inference") {
		t.Fatalf("whoami: %d %s", code, body)
	}

	// A JWT for another repository, and one signed by another key, are refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, jwt := range map[string]string{
		"policy mismatch": is.workloadJWT(t, "repo:evil/fork:ref:refs/heads/main"),
		"forged":          is.sign(t, other, map[string]any{"iss": is.url, "sub": "repo:acme/trainer:ref:refs/heads/main", "aud": "aicred", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}),
	} {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {jwt},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
		code, body := httpDo(t, "POST", base+"/oauth/token", "", strings.NewReader(form.Encode()))
		if code != 400 || !strings.Contains(body, "invalid_grant") || strings.Contains(body, jwt) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}

	// Admin API with an admin token.
	r = runCLI(t, "", "admin-token", "create", "--scope", "read")
	admin := strings.TrimSpace(r.stdout)
	if r.code != exitOK || !strings.HasPrefix(admin, provider.TokenPrefixAdmin) {
		t.Fatalf("admin-token create: %d %s", r.code, r.stderr)
	}
	if code, body := httpDo(t, "GET", base+"/admin/v1/tokens", admin, nil); code != 200 || !strings.Contains(body, `"role":"trainer-inference"`) {
		t.Errorf("admin list tokens: %d %s", code, body)
	}
	if code, _ := httpDo(t, "POST", base+"/admin/v1/revocations", admin, strings.NewReader(`{"by":"role","value":"trainer-inference"}`)); code != 403 {
		t.Errorf("read-scoped admin token could revoke: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/admin/v1/tokens", tok, nil); code != 401 {
		t.Errorf("workload token accepted by the admin API: %d", code)
	}

	// Revoke from another process's view of the store; the server must
	// refuse the token within a second.
	start := time.Now()
	if r := runCLI(t, "", "token", "revoke", "--role", "trainer-inference", "--reason", "test"); r.code != exitOK {
		t.Fatalf("revoke: %d %s", r.code, r.stderr)
	}
	for {
		code, _ := httpDo(t, "GET", base+"/aicred/v1/whoami", tok, nil)
		if code == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("token still accepted %s after revocation", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation seen by the server after %s", time.Since(start))

	if code, body := httpDo(t, "GET", base+"/metrics", "", nil); code != 200 || !strings.Contains(body, "aicred_http_requests_total") {
		t.Errorf("metrics: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/healthz", "", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	cancel()
	res := <-done
	if res.code != exitOK {
		t.Errorf("serve exit %d: %s", res.code, res.stderr)
	}
	// The log never holds a token or the subject JWT.
	for _, secret := range []string{tok, admin, is.workloadJWT(t, "x")[:40]} {
		if strings.Contains(res.stderr, secret) {
			t.Errorf("server log holds a token")
		}
	}
	out := runCLI(t, "", "audit", "export")
	if !strings.Contains(out.stdout, "token.issued") || !strings.Contains(out.stdout, "token.revoked") || strings.Contains(out.stdout, tok) {
		t.Errorf("audit: issued/revoked records missing or token present")
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "listen: 127.0.0.1:0\nlisten_port: 3\n", "line 2"},
		{"nested unknown", "log:\n  format: json\n  colour: red\n", "line 3"},
		{"bad format", "log:\n  format: xml\n", "log.format"},
		{"bad listen", "listen: nowhere\n", "listen"},
		{"gateway not a mapping", "gateway: [a]\n", "line 1: gateway: must be a mapping"},
		{"gateway unknown key", "listen: 127.0.0.1:0\ngateway:\n  max_body: 3\n", `line 3: unknown key "max_body" in gateway`},
		{"upstream bad scheme", "gateway:\n  upstreams:\n    openai: ftp://api.openai.test\n", "line 3: gateway.upstreams.openai: want an absolute http(s) URL"},
		{"upstream relative", "gateway:\n  upstreams:\n    anthropic: api.anthropic.test/v1\n", "line 3: gateway.upstreams.anthropic: want an absolute"},
		{"upstream with userinfo", "gateway:\n  upstreams:\n    openai: https://u:p@api.openai.test\n", "line 3: gateway.upstreams.openai: the URL must not carry user information"},
		{"upstream unknown provider", "gateway:\n  upstreams:\n    openai: https://api.openai.test\n    opneai: https://api.openai.test\n", "line 4: gateway.upstreams.opneai: unknown provider id"},
		{"upstreams not a mapping", "gateway:\n  upstreams: [openai]\n", "line 2: gateway.upstreams: must be a mapping"},
		{"unpriced negative", "gateway:\n  unpriced:\n    input: -1\n    output: 2\n", "line 3: gateway.unpriced.input: want a positive rate"},
		{"unpriced zero", "gateway:\n  unpriced: {input: 1, output: 0}\n", "line 2: gateway.unpriced.output: want a positive rate"},
		{"unpriced half", "gateway:\n  unpriced:\n    input: 1\n", "line 3: gateway.unpriced: give both input and output"},
		{"unpriced word", "gateway:\n  unpriced: free\n", `line 2: gateway.unpriced: want "refuse"`},
		{"unpriced unknown key", "gateway:\n  unpriced:\n    input: 1\n    output: 2\n    cached: 1\n", `line 5: gateway.unpriced: unknown key "cached"`},
		{"max body negative", "gateway:\n  max_body_bytes: -5\n", "line 2: gateway.max_body_bytes: want a positive integer"},
		{"default max output word", "gateway:\n  default_max_output: lots\n", "line 2: gateway.default_max_output: want a positive integer"},
		{"timeout without unit", "gateway:\n  upstream_timeout: 5\n", "line 2: gateway.upstream_timeout: want a positive duration"},
		{"negative ttl", "gateway:\n  key_ttl: -1m\n", "line 2: gateway.key_ttl: want a positive duration"},
		{"prices missing", "gateway:\n  prices: " + filepath.Join(dir, "nope.json") + "\n", "line 2: gateway.prices:"},
		{"prices invalid", "gateway:\n  stream_idle_timeout: 1m\n  prices: " + writeTemp(t, dir, "zero.json", `{"models":[{"provider":"openai","model":"m","input":0,"output":1,"source":"s","as_of":"d"}]}`) + "\n", "line 3: gateway.prices:"},
		{"anomaly unknown key", "gateway:\n  key_ttl: 1m\n  anomaly:\n    spike: 3\n", `line 4: unknown key "spike" in anomaly`},
		{"anomaly bad value", "gateway:\n  anomaly:\n    warmup_minutes: 5\n    spike_factor: -2\n", "line 4: anomaly: spike_factor"},
		{"webhook secret missing", "gateway:\n  anomaly:\n    webhook:\n      url: https://hooks.example.test/aicred\n      secret_file: " + filepath.Join(dir, "no-such-secret") + "\n", "gateway.anomaly"},
		{"policy without subject", "issuers:\n  - name: ci\n    type: oidc\n    issuer: https://x.test\n    audiences: [a]\n    jwks: '{\"keys\":[]}'\nroles:\n  - name: r\n    providers: [openai]\n    operations: [chat]\npolicies:\n  - name: p\n    issuer: ci\n    role: r\n    claims: {}\n", "line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			writeFile(t, p, c.yaml)
			r := runCLI(t, "", "serve", "--check", "--config", p)
			if r.code != exitError || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, stderr %q, want %q", r.code, r.stderr, c.want)
			}
		})
	}
}

// writeTemp writes content to dir/name and returns the path.
func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	writeFile(t, p, content)
	return p
}

// TestServeGatewayConfig reads a full gateway section and checks what the
// gateway will be given.
func TestServeGatewayConfig(t *testing.T) {
	dir := t.TempDir()
	prices := writeTemp(t, dir, "prices.json", `{"models":[{"provider":"openai","model":"ft:acme-1","input":3,"output":12,"source":"contract","as_of":"2026-01-01"}]}`)
	cfg, err := parseServerConfig([]byte(`listen: 127.0.0.1:0
gateway:
  upstreams:
    openai: http://127.0.0.1:9/base/
    anthropic: off
  prices: ` + prices + `
  unpriced: {input: 5, output: 15.5}
  max_body_bytes: 1048576
  upstream_timeout: 30s
  stream_idle_timeout: 45s
  key_ttl: 1m
  reservation_ttl: 2m
  default_max_output: 1024
  bedrock_region: eu-west-1
  anomaly:
    spike_factor: 3
    cooldown: 5m
`))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateway
	ups := g.upstreams()
	if ups["openai"] != "http://127.0.0.1:9/base/" {
		t.Errorf("openai upstream %q", ups["openai"])
	}
	if _, ok := ups["anthropic"]; ok {
		t.Error(`"anthropic: off" left the provider served`)
	}
	if p, ok := g.prices().Lookup("openai", "ft:acme-1"); !ok || p.Input != 3 || p.Output != 12 {
		t.Errorf("price from the file: %+v %v", p, ok)
	}
	if _, ok := g.prices().Lookup("anthropic", "claude-haiku-4-5"); !ok {
		t.Error("the price file replaced the shipped table instead of extending it")
	}
	if g.BedrockRegion != "eu-west-1" {
		t.Errorf("bedrock_region %q", g.BedrockRegion)
	}
	for _, bad := range []string{"eu", "EU-WEST-1", "eu-west-1a-", "us-east-1; rm", "us-gov-west-1x"} {
		if awsRegion(bad) {
			t.Errorf("awsRegion(%q) = true", bad)
		}
	}
	if _, err := parseServerConfig([]byte("gateway:\n  bedrock_region: moon-1\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad region: %v", err)
	}
	if g.Unpriced == nil || g.Unpriced.Input != 5 || g.Unpriced.Output != 15.5 {
		t.Errorf("unpriced %+v", g.Unpriced)
	}
	want := gatewayConfig{MaxBodyBytes: 1 << 20, UpstreamTimeout: 30 * time.Second, StreamIdleTimeout: 45 * time.Second,
		KeyTTL: time.Minute, ReservationTTL: 2 * time.Minute, DefaultMaxOutput: 1024}
	if g.MaxBodyBytes != want.MaxBodyBytes || g.UpstreamTimeout != want.UpstreamTimeout || g.StreamIdleTimeout != want.StreamIdleTimeout ||
		g.KeyTTL != want.KeyTTL || g.ReservationTTL != want.ReservationTTL || g.DefaultMaxOutput != want.DefaultMaxOutput {
		t.Errorf("limits %+v", g)
	}
	if g.Anomaly.SpikeFactor != 3 || g.Anomaly.Cooldown != 5*time.Minute {
		t.Errorf("anomaly %+v", g.Anomaly)
	}

	// No section, an empty one, and "unpriced: refuse": the defaults.
	for _, doc := range []string{"listen: 127.0.0.1:0\n", "gateway:\n", "gateway:\n  unpriced: refuse\n"} {
		cfg, err := parseServerConfig([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if cfg.Gateway.Unpriced != nil || len(cfg.Gateway.upstreams()) != len(gateway.DefaultUpstreams())+len(gateway.MLDefaultUpstreams()) {
			t.Errorf("%q: not the defaults: %+v", doc, cfg.Gateway)
		}
		if _, ok := cfg.Gateway.prices().Lookup("openai", "gpt-4o-mini"); !ok {
			t.Errorf("%q: the shipped price table is not used", doc)
		}
	}
}

// TestServeTwoProcessesPostgres runs two `aicred serve` processes on one
// PostgreSQL schema; a token issued by the first is revoked with the CLI
// and the second must refuse it within a second (LISTEN/NOTIFY).
func TestServeTwoProcessesPostgres(t *testing.T) {
	base := os.Getenv("AICRED_TEST_POSTGRES")
	if base == "" {
		t.Skip("AICRED_TEST_POSTGRES not set: skipping the two-process PostgreSQL revocation test")
	}
	schema := fmt.Sprintf("aicred_cmd_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()

	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	t.Setenv("AICRED_STORE", dsn)
	is := newIssuer(t, dir)
	var bases []string
	for i := range 2 {
		addr := freeAddr(t)
		cfgPath := filepath.Join(dir, fmt.Sprintf("aicred%d.yaml", i))
		writeFile(t, cfgPath, fmt.Sprintf(serverConfigYAML(is, dsn), addr))
		cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "AICRED_TEST_EXEC_MAIN=1")
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		})
		bases = append(bases, "http://"+addr)
	}
	for _, b := range bases {
		waitHealthy(t, b)
	}
	jwtFile := filepath.Join(dir, "jwt")
	writeFile(t, jwtFile, is.workloadJWT(t, "repo:acme/trainer:ref:refs/heads/main"))
	r := runCLI(t, "", "token", "exchange", "--server", bases[0], "--subject-token-file", jwtFile)
	if r.code != exitOK {
		t.Fatalf("exchange: %d %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	if code, _ := httpDo(t, "GET", bases[1]+"/aicred/v1/whoami", tok, nil); code != 200 {
		t.Fatalf("second process does not know the token: %d", code)
	}
	start := time.Now()
	if r := runCLI(t, "", "token", "revoke", "--workload", is.url+" repo:acme/trainer:ref:refs/heads/main"); r.code != exitOK {
		t.Fatalf("revoke: %d %s", r.code, r.stderr)
	}
	for {
		code, _ := httpDo(t, "GET", bases[1]+"/aicred/v1/whoami", tok, nil)
		if code == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("second process still accepts the token %s after revocation", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revocation seen by the second process after %s", time.Since(start))
}
