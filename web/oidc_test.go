package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/aicred/aicred"
)

// idp is a local OpenID Connect provider: discovery, JWKS, /authorize
// (the person is already logged in there and consents) and /token
// (authorization code with PKCE S256 and client_secret_post), as the
// OpenID Connect Core and RFC 7636 specify.
type idp struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	secret string
	mu     sync.Mutex
	codes  map[string]idpCode
	email  string
	groups []string
	// tamper, when set, changes the ID token's claims before signing.
	tamper func(map[string]any)
}

type idpCode struct{ challenge, nonce, redirect string }

func newIDP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, secret: "console-client-secret", codes: map[string]idpCode{}, email: "alice@example.com"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks", "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("client_id") != "aicred-console" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := randomID()
		p.mu.Lock()
		p.codes[code] = idpCode{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || r.PostForm.Get("client_secret") != p.secret ||
			r.PostForm.Get("redirect_uri") != c.redirect || r.PostForm.Get("grant_type") != "authorization_code" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		now := time.Now()
		claims := map[string]any{"iss": p.srv.URL, "sub": "user-1234", "aud": "aicred-console", "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "nonce": c.nonce, "email": p.email, "email_verified": true, "groups": p.groups}
		if p.tamper != nil {
			p.tamper(claims)
		}
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		tok, err := jwt.Signed(sig).Claims(claims).Serialize()
		if err != nil {
			t.Error(err)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": tok})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// TestOIDCLogin logs in through a local identity provider: the console
// sends PKCE S256 and a nonce, verifies the ID token, admits a listed
// email read-only, refuses another person, a wrong nonce, another
// audience and a callback from another browser; the login is audited
// naming the person.
func TestOIDCLogin(t *testing.T) {
	p := newIDP(t)
	// The console's URL is known only once its server runs: the world
	// is built with a placeholder redirect URL, fixed below.
	cfg := &OIDCConfig{Issuer: p.srv.URL, ClientID: "aicred-console", ClientSecret: p.secret, RedirectURL: "http://127.0.0.1/ui/oidc/callback",
		AllowedEmails: []string{"alice@example.com"}, AllowInsecureHTTP: true}
	w := newWorld(t, cfg)
	w.con.oidc.cfg.RedirectURL = w.srv.URL + "/ui/oidc/callback"

	login := func(c *client) (*http.Response, string) {
		_, lp := c.get("/ui/login")
		if !strings.Contains(lp, "/ui/oidc/start") {
			t.Fatalf("login page offers no OIDC login")
		}
		return c.get("/ui/oidc/start?next=%2Fui%2Ftokens")
	}
	c := w.client(t)
	resp, body := login(c)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Logged in as alice@example.com") {
		t.Fatalf("oidc login: %d %.400s", resp.StatusCode, body)
	}
	if _, body := c.get("/ui/tokens"); !strings.Contains(body, "alice@example.com · read only") {
		t.Errorf("OIDC session not shown read only: %.300s", body)
	}
	evs, _ := w.st.SearchAudit(context.Background(), aicred.AuditQuery{Actions: []string{ActionLogin}, Limit: 1})
	if len(evs) != 1 || evs[0].Actor != "oidc:alice@example.com" || evs[0].Data["subject"] != "user-1234" {
		t.Errorf("login audit: %+v", evs)
	}

	for _, tc := range []struct {
		name   string
		email  string
		tamper func(map[string]any)
	}{
		{"not allowed", "mallory@example.com", nil},
		{"wrong nonce", "alice@example.com", func(m map[string]any) { m["nonce"] = "other" }},
		{"other audience", "alice@example.com", func(m map[string]any) { m["aud"] = "another-app" }},
		{"unverified email", "alice@example.com", func(m map[string]any) { m["email_verified"] = false }},
	} {
		p.email, p.tamper = tc.email, tc.tamper
		c := w.client(t)
		if resp, body := login(c); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "Logged in") {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
		if resp, _ := c.get("/ui/"); resp.Request.URL.Path != "/ui/login" {
			t.Errorf("%s: a session was made", tc.name)
		}
	}
	p.email, p.tamper = "alice@example.com", nil
	// A callback carrying a state this browser did not start.
	c2 := w.client(t)
	noRedirect := *c2.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r, err := noRedirect.Get(w.srv.URL + "/ui/oidc/start")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc.Query().Get("code_challenge_method") != "S256" || loc.Query().Get("nonce") == "" {
		t.Errorf("authorization request: %s", loc)
	}
	c3 := w.client(t)
	if resp, _ := c3.get("/ui/oidc/callback?code=x&state=" + url.QueryEscape(loc.Query().Get("state"))); resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback from another browser: %d", resp.StatusCode)
	}
}
