package broker

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// issuerDoc is an OIDC issuer's configuration naming an issuer entry.
func issuerDoc(entry string) string {
	return `issuers:
` + entry + `
roles:
  - {name: r, providers: [openai], credentials: [hc_1], models: ["*"], operations: [chat]}
policies:
  - {name: p, issuer: corp, role: r, claims: {sub: svc-1}}
`
}

// verifyThrough builds the config and verifies a token signed for issuer
// through the "corp" proof, which fetches its keys.
func verifyThrough(t *testing.T, doc, issuer string) error {
	t.Helper()
	c, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	x, err := c.Build(BuildOptions{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	now := time.Now().Unix()
	tok := signJWT(t, fixtureKeys().rsa2, jose.RS256, "corp-1", map[string]any{
		"iss": issuer, "aud": testAudience, "sub": "svc-1", "iat": now, "exp": now + 300,
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = x.proofs["corp"].Verify(ctx, tok)
	return err
}

// TestIssuerPrivateCA: an issuer served over TLS with a certificate of a
// CA the system does not trust is reached through ca_file, and only so.
func TestIssuerPrivateCA(t *testing.T) {
	p := newIDP(t, jwk(fixtureKeys().rsa2, "corp-1", "sig"))
	dir := t.TempDir()
	// httptest's certificate is its own CA (a test CA, self-signed).
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := "  - {name: corp, type: oidc, issuer: '" + p.issuer + "', audiences: [" + testAudience + "]"
	if err := verifyThrough(t, issuerDoc(entry+", ca_file: '"+caPath+"'}"), p.issuer); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	if p.discHits.Load() != 1 || p.jwksHits.Load() != 1 {
		t.Errorf("discovery %d, key set %d fetches, want 1 each", p.discHits.Load(), p.jwksHits.Load())
	}
	if err := verifyThrough(t, issuerDoc(entry+"}"), p.issuer); err == nil {
		t.Fatal("without ca_file the private CA's certificate was trusted")
	}

	// A ca_file that is missing or holds no certificate is refused at
	// load, with its line.
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{empty, filepath.Join(dir, "missing.pem")} {
		_, err := ParseConfig([]byte(issuerDoc(entry + ", ca_file: '" + bad + "'}")))
		if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "ca_file") {
			t.Errorf("ca_file %s: %v", filepath.Base(bad), err)
		}
	}
}

// TestIssuerInsecureHTTP: a plain-http issuer is accepted only on a
// loopback address and only with allow_insecure_http; otherwise the
// configuration is refused with the line and the reason.
func TestIssuerInsecureHTTP(t *testing.T) {
	k := fixtureKeys()
	var issuer string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(jwksJSON(t, jwk(k.rsa2, "corp-1", "sig")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer = srv.URL // http://127.0.0.1:port

	entry := func(iss, extra string) string {
		return issuerDoc("  - {name: corp, type: oidc, issuer: '" + iss + "', audiences: [" + testAudience + "]" + extra + "}")
	}
	if err := verifyThrough(t, entry(issuer, ", allow_insecure_http: true"), issuer); err != nil {
		t.Fatalf("loopback http issuer with allow_insecure_http: %v", err)
	}
	for _, c := range []struct{ name, doc, want string }{
		{"not allowed", entry(issuer, ""), "allow_insecure_http"},
		{"allowed but remote", entry("http://idp.example", ", allow_insecure_http: true"), "loopback"},
		{"jwks_uri remote", issuerDoc("  - {name: corp, type: oidc, issuer: 'https://idp.example', jwks_uri: 'http://10.0.0.1/jwks', audiences: [" +
			testAudience + "], allow_insecure_http: true}"), "loopback"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error at line 2 naming %q", err, c.want)
			}
		})
	}
}

// TestManualIssuerReserved: no issuer entry may claim the issuer of
// hand-issued tokens, so a workload revocation or a posture signal on it
// never mixes the two.
func TestManualIssuerReserved(t *testing.T) {
	doc := issuerDoc("  - {name: corp, type: oidc, issuer: '" + ManualIssuer + "', audiences: [a], jwks: '" +
		string(jwksJSON(t, jwk(fixtureKeys().rsa2, "corp-1", "sig"))) + "'}")
	if _, err := ParseConfig([]byte(doc)); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "aicred's own") {
		t.Errorf("issuer %s: %v", ManualIssuer, err)
	}
}
