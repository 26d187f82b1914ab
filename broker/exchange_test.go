package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func TestExchangeEachProof(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, token, policy, role string
		workload                  Workload
		ttl                       time.Duration
	}{
		{"github", f.githubToken(nil), "api-main", "ci", Workload{f.github.issuer, "repo:acme/api:ref:refs/heads/main"}, 15 * time.Minute},
		{"oidc", f.oidcToken(nil), "corp-svc", "ci", Workload{f.oidc.issuer, "svc-1"}, 15 * time.Minute},
		{"kubernetes", f.k8sToken(nil), "ml-trainer", "training", Workload{k8sIssuer, "system:serviceaccount:ml:trainer"}, 30 * time.Minute},
		{"spiffe", f.spiffeToken(nil), "spiffe-ml", "training", Workload{"spiffe://example.org", "spiffe://example.org/ns/ml/sa/trainer"}, 30 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.post(exchangeForm(c.token))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			r := decodeResponse(t, rec)
			if !provider.ValidToken(r.AccessToken) || !strings.HasPrefix(r.AccessToken, provider.TokenPrefixWorkload) {
				t.Fatalf("access_token %q is not an aicred workload token", r.AccessToken)
			}
			if r.IssuedTokenType != TokenTypeAccessToken || r.TokenType != "Bearer" || r.ExpiresIn != int64(c.ttl/time.Second) || r.Scope == "" {
				t.Errorf("response %+v", r)
			}
			g, err := ValidateToken(context.Background(), f.tokens, r.AccessToken, f.now())
			if err != nil {
				t.Fatal(err)
			}
			if g.Policy != c.policy || g.Role != c.role || g.Issuer != c.workload.Issuer || g.Subject != c.workload.Subject ||
				g.Class != aicred.TokenWorkload || !g.ExpiresAt.Equal(f.now().Add(c.ttl)) || !strings.HasPrefix(g.ID, "tok_") {
				t.Errorf("grant %+v", g)
			}
			if strings.Join(g.Scope, " ") != r.Scope {
				t.Errorf("grant scope %q, response scope %q", g.Scope, r.Scope)
			}
			assertNoSecret(t, "log", f.logBuf.String(), c.token)
			assertNoSecret(t, "log", f.logBuf.String(), r.AccessToken)
		})
	}
	if n := len(f.logRecords("token issued")); n != len(cases) {
		t.Errorf("%d issue log lines, want %d", n, len(cases))
	}
	// The issued token is stored only as its hash.
	if f.tokens.Len() != len(cases) {
		t.Errorf("store holds %d grants", f.tokens.Len())
	}
}

func TestExchangeScopeNarrowing(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name      string
		extra     []string
		wantCode  string
		wantScope string
	}{
		{"full role", nil, "", "chat embeddings models model:gpt-4o* model:claude-* provider:openai provider:anthropic"},
		{"narrower ops", []string{"scope", "chat"}, "", "chat model:gpt-4o* model:claude-* provider:openai provider:anthropic"},
		{"model and provider", []string{"scope", "embeddings chat model:gpt-4o-mini provider:openai"}, "", "chat embeddings model:gpt-4o-mini provider:openai"},
		{"narrower model glob", []string{"scope", "model:gpt-4o-mini*"}, "", "chat embeddings models model:gpt-4o-mini* provider:openai provider:anthropic"},
		{"audience names provider", []string{"audience", "anthropic"}, "", "chat embeddings models model:gpt-4o* model:claude-* provider:anthropic"},
		{"extra audience", []string{"audience", "aicred-gateway"}, "", "chat embeddings models model:gpt-4o* model:claude-* provider:openai provider:anthropic"},
		{"resource in role", []string{"resource", "https://gateway.example/v1"}, "", "chat embeddings models model:gpt-4o* model:claude-* provider:openai provider:anthropic"},
		{"operation outside role", []string{"scope", "chat fine-tuning"}, CodeInvalidScope, ""},
		{"admin", []string{"scope", "admin"}, CodeInvalidScope, ""},
		{"unknown scope value", []string{"scope", "root"}, CodeInvalidScope, ""},
		{"model outside allowlist", []string{"scope", "model:o1"}, CodeInvalidScope, ""},
		{"wider model glob", []string{"scope", "model:gpt-*"}, CodeInvalidScope, ""},
		{"any model", []string{"scope", "model:*"}, CodeInvalidScope, ""},
		{"provider outside role", []string{"scope", "provider:mistral"}, CodeInvalidScope, ""},
		{"audience outside role", []string{"audience", "https://evil.example"}, CodeInvalidTarget, ""},
		{"resource outside role", []string{"resource", "https://evil.example/v1"}, CodeInvalidTarget, ""},
		{"audience and scope disjoint", []string{"audience", "anthropic", "scope", "provider:openai"}, CodeInvalidTarget, ""},
		{"resource not absolute", []string{"resource", "/v1"}, CodeInvalidRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := f.githubToken(nil)
			rec := f.post(exchangeForm(tok, c.extra...))
			r := decodeResponse(t, rec)
			if c.wantCode != "" {
				if rec.Code != http.StatusBadRequest || r.Error != c.wantCode {
					t.Fatalf("status %d error %q, want 400 %s", rec.Code, r.Error, c.wantCode)
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if r.Scope != c.wantScope {
				t.Errorf("scope %q\nwant  %q", r.Scope, c.wantScope)
			}
		})
	}
}

func TestExchangeRequestErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.githubToken(nil)
	do := func(method, target, ctype, body string) (*httptest.ResponseRecorder, tokenResponse) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		f.x.ServeHTTP(rec, req)
		var r tokenResponse
		if rec.Body.Len() > 0 {
			r = decodeResponse(t, rec)
		}
		return rec, r
	}
	form := func(mod func(url.Values)) string {
		v := exchangeForm(tok)
		mod(v)
		return v.Encode()
	}
	const ct = "application/x-www-form-urlencoded"
	cases := []struct {
		name               string
		method, target, ct string
		body               string
		status             int
		code               string
	}{
		{"GET", http.MethodGet, "/oauth/token", "", "", http.StatusMethodNotAllowed, CodeInvalidRequest},
		{"JSON body", http.MethodPost, "/oauth/token", "application/json", `{"grant_type":"x"}`, 400, CodeInvalidRequest},
		{"token in URL", http.MethodPost, "/oauth/token?" + exchangeForm(tok).Encode(), ct, "", 400, CodeInvalidRequest},
		{"no grant_type", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Del("grant_type") }), 400, CodeInvalidRequest},
		{"other grant_type", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Set("grant_type", "client_credentials") }), 400, CodeUnsupportedGrantType},
		{"jwt-bearer grant", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer") }), 400, CodeUnsupportedGrantType},
		{"no subject_token", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Del("subject_token") }), 400, CodeInvalidRequest},
		{"no subject_token_type", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Del("subject_token_type") }), 400, CodeInvalidRequest},
		{"saml subject", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2") }), 400, CodeInvalidRequest},
		{"refresh token requested", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) {
			v.Set("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")
		}), 400, CodeInvalidRequest},
		{"actor token", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Set("actor_token", tok); v.Set("actor_token_type", TokenTypeJWT) }), 400, CodeInvalidRequest},
		{"repeated subject_token", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Add("subject_token", tok) }), 400, CodeInvalidRequest},
		{"repeated scope", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Add("scope", "chat"); v.Add("scope", "chat") }), 400, CodeInvalidRequest},
		{"bad encoding", http.MethodPost, "/oauth/token", ct, "grant_type=%zz", 400, CodeInvalidRequest},
		{"body too large", http.MethodPost, "/oauth/token", ct, form(func(v url.Values) { v.Set("scope", strings.Repeat("a", maxFormBytes)) }), 400, CodeInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, r := do(c.method, c.target, c.ct, c.body)
			if rec.Code != c.status || r.Error != c.code {
				t.Fatalf("status %d error %q (%s), want %d %s", rec.Code, r.Error, r.ErrorDescription, c.status, c.code)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store on an error")
			}
			assertNoSecret(t, "response", rec.Body.String(), tok)
		})
	}
	assertNoSecret(t, "log", f.logBuf.String(), tok)
	if n := len(f.logRecords("token exchange refused")); n != len(cases) {
		t.Errorf("%d refusal log lines, want %d", n, len(cases))
	}
}

func TestExchangeStrictErrors(t *testing.T) {
	f := newFixture(t, func(o *BuildOptions) { o.StrictRFC8693Errors = true })
	tok := f.githubToken(func(c map[string]any) { c["exp"] = f.now().Add(-time.Hour).Unix() })
	rec := f.post(exchangeForm(tok))
	if r := decodeResponse(t, rec); rec.Code != 400 || r.Error != CodeInvalidRequest {
		t.Fatalf("status %d error %q, want invalid_request in strict mode", rec.Code, r.Error)
	}
}

func TestValidateAndRevoke(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	issue := func(tok string) string {
		t.Helper()
		r := decodeResponse(t, f.post(exchangeForm(tok)))
		if r.AccessToken == "" {
			t.Fatalf("exchange refused: %s %s", r.Error, r.ErrorDescription)
		}
		return r.AccessToken
	}
	gh1, gh2 := issue(f.githubToken(nil)), issue(f.githubToken(nil))
	k8s := issue(f.k8sToken(nil))
	sp := issue(f.spiffeToken(nil))
	corp := issue(f.oidcToken(nil))
	valid := func(tok string) bool {
		_, err := ValidateToken(ctx, f.tokens, tok, f.now())
		return err == nil
	}
	for _, tok := range []string{gh1, gh2, k8s, sp, corp} {
		if !valid(tok) {
			t.Fatal("fresh token invalid")
		}
	}
	// Garbage and near misses never reach the store. The near miss
	// changes the last character (to one it is not: the token is random,
	// and ended in "x" one run in 62).
	last := "x"
	if strings.HasSuffix(gh1, last) {
		last = "y"
	}
	for _, bad := range []string{"", "aicw_", gh1[:len(gh1)-1] + last, strings.Replace(gh1, "aicw_", "aica_", 1), "Bearer " + gh1} {
		if _, err := ValidateToken(ctx, f.tokens, bad, f.now()); aicred.KindOf(err) != aicred.ErrUnauthorized {
			t.Errorf("ValidateToken(%.12q) = %v", bad, err)
		}
	}
	unknown := provider.FormatToken(provider.TokenPrefixWorkload, strings.Repeat("A", provider.TokenRandomLen))
	if _, err := ValidateToken(ctx, f.tokens, unknown, f.now()); aicred.KindOf(err) != aicred.ErrUnauthorized {
		t.Errorf("unknown token: %v", err)
	}

	grantOf := func(tok string) *aicred.Grant {
		t.Helper()
		g, err := f.tokens.LookupGrant(ctx, aicred.HashToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	revoke := func(by, value string, want int) {
		t.Helper()
		r := &aicred.Revocation{By: by, Value: value, Reason: "test"}
		if err := f.tokens.Revoke(ctx, r); err != nil || r.Grants != want || r.Seq == 0 {
			t.Fatalf("Revoke(%s %s) = %d grants (seq %d), %v; want %d", by, value, r.Grants, r.Seq, err, want)
		}
	}
	if r, err := RevokeToken(ctx, f.tokens, gh1, "leaked"); err != nil || r.Grants != 1 || r.Value != grantOf(gh1).ID {
		t.Fatalf("RevokeToken = %+v, %v", r, err)
	}
	if valid(gh1) || !valid(gh2) {
		t.Fatal("revocation by token")
	}
	if g := grantOf(gh1); g.RevokedAt.IsZero() || g.RevokeReason != "leaked" {
		t.Errorf("revoked grant %+v", g)
	}
	revoke(aicred.RevokeWorkload, f.github.issuer+" repo:acme/api:ref:refs/heads/main", 1)
	if valid(gh2) {
		t.Fatal("revocation by workload")
	}
	// The revocation held the workload: its next exchange is refused
	// until the hold is lifted.
	if r := decodeResponse(t, f.post(exchangeForm(f.githubToken(nil)))); r.Error != CodeInvalidGrant || r.AccessToken != "" {
		t.Fatalf("exchange of a held workload: %+v", r)
	}
	if err := f.tokens.LiftWorkloadHold(ctx, f.github.issuer+" repo:acme/api:ref:refs/heads/main", "test"); err != nil {
		t.Fatal(err)
	}
	revoke(aicred.RevokeCredential, "hc_train", 2)
	if valid(k8s) || valid(sp) || !valid(corp) {
		t.Fatal("revocation by credential")
	}
	revoke(aicred.RevokePolicy, "corp-svc", 1)
	if valid(corp) {
		t.Fatal("revocation by policy")
	}
	gh3 := issue(f.githubToken(nil))
	revoke(aicred.RevokeRole, "ci", 1)
	if valid(gh3) {
		t.Fatal("revocation by role")
	}
	revoke(aicred.RevokeRole, "ci", 0)
	for _, r := range []*aicred.Revocation{{By: "everything", Value: "x"}, {By: aicred.RevokeRole}, {By: aicred.RevokeWorkload, Value: "x"}, {By: aicred.RevokeToken, Value: gh1}} {
		if err := f.tokens.Revoke(ctx, r); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("Revoke(%s) = %v", r.By, err)
		}
	}
	if _, err := RevokeToken(ctx, f.tokens, unknown, ""); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Errorf("RevokeToken(unknown) = %v", err)
	}

	// Expiry.
	gh4 := issue(f.githubToken(nil))
	f.clock.Advance(15*time.Minute + time.Second)
	if _, err := ValidateToken(ctx, f.tokens, gh4, f.now()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	for _, tok := range []string{gh1, gh2, gh3, gh4, k8s, sp, corp} {
		if _, err := ValidateToken(ctx, f.tokens, tok, f.now()); err != nil && strings.Contains(err.Error(), tok) {
			t.Fatal("error holds the token")
		}
	}
}

func TestMintToken(t *testing.T) {
	seen := make(map[string]bool)
	counts := make(map[byte]int)
	for range 2000 {
		tok := mintToken()
		if !provider.ValidToken(tok) || !strings.HasPrefix(tok, provider.TokenPrefixWorkload) {
			t.Fatalf("minted %q", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		for i := len(provider.TokenPrefixWorkload); i < len(provider.TokenPrefixWorkload)+provider.TokenRandomLen; i++ {
			counts[tok[i]]++
		}
	}
	// 60,000 draws over 62 symbols: each near 968; a biased or broken
	// generator shows up far outside this band.
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters", len(counts))
	}
	for c, n := range counts {
		if n < 750 || n > 1200 {
			t.Errorf("character %q drawn %d times", c, n)
		}
	}
}

func TestMemoryTokenStoreSweep(t *testing.T) {
	clock := newTestClock()
	s := NewMemoryTokenStore(clock.Now)
	ctx := context.Background()
	grant := func() *aicred.Grant {
		return &aicred.Grant{ID: newGrantID(), TokenHash: aicred.HashToken(mintToken()), Class: aicred.TokenWorkload,
			Issuer: "https://issuer.test", Subject: "w", ExpiresAt: clock.Now().Add(time.Minute)}
	}
	g := grant()
	if err := s.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	dupHash, dupID := grant(), grant()
	dupHash.TokenHash, dupID.ID = g.TokenHash, g.ID
	for _, d := range []*aicred.Grant{g, dupHash, dupID} {
		if err := s.IssueGrant(ctx, d); aicred.KindOf(err) != aicred.ErrConflict {
			t.Errorf("duplicate: %v", err)
		}
	}
	tok := mintToken()
	bad := grant()
	bad.TokenHash = tok // a token where its hash belongs
	for _, b := range []*aicred.Grant{{}, bad} {
		if err := s.IssueGrant(ctx, b); aicred.KindOf(err) != aicred.ErrInvalid || (err != nil && strings.Contains(err.Error(), tok)) {
			t.Errorf("invalid grant: %v", err)
		}
	}
	clock.Advance(2 * time.Minute)
	if err := s.IssueGrant(ctx, grant()); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Errorf("expired grant not swept: %d", s.Len())
	}
}

// The memory store and aicred's stores are interchangeable.
var _ TokenStore = aicred.TokenService(nil)
var _ TokenStore = (*MemoryTokenStore)(nil)
