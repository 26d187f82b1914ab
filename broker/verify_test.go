package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/aicred/aicred"
)

const testIssuer = "https://issuer.test"

func staticKeys(t testing.TB, keys ...jose.JSONWebKey) *StaticKeys {
	t.Helper()
	s, err := NewStaticKeys(jwksJSON(t, keys...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestVerifier(t testing.TB, clock *testClock, mod func(*VerifierConfig)) *Verifier {
	t.Helper()
	k := fixtureKeys()
	cfg := VerifierConfig{
		Issuer: testIssuer, Audiences: []string{"aicred"},
		Keys:  staticKeys(t, jwk(k.rsa, "r", ""), jwk(k.ec, "e", ""), jwk(k.ed, "d", "")),
		Clock: clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func baseClaims(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "aud": "aicred", "sub": "w", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func TestVerifierAlgorithms(t *testing.T) {
	clock := newTestClock()
	v := newTestVerifier(t, clock, nil)
	k := fixtureKeys()
	for _, c := range []struct {
		key any
		alg jose.SignatureAlgorithm
		kid string
	}{{k.rsa, jose.RS256, "r"}, {k.ec, jose.ES256, "e"}, {k.ed, jose.EdDSA, "d"}} {
		tok := signJWT(t, c.key, c.alg, c.kid, baseClaims(clock.Now()), nil)
		got, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		if got.Alg != string(c.alg) || got.KeyID != c.kid || got.Subject != "w" || got.Issuer != testIssuer {
			t.Errorf("%s: %+v", c.alg, got)
		}
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512} {
		tok := signJWT(t, k.rsa, alg, "r", baseClaims(clock.Now()), nil)
		if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonAlgNotAllowed {
			t.Errorf("%s: %v", alg, err)
		}
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
		tok := signJWT(t, make([]byte, 64), alg, "r", baseClaims(clock.Now()), nil)
		if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonAlgNotAllowed {
			t.Errorf("%s: %v", alg, err)
		}
	}
}

// countingKeys records whether any key was looked up.
type countingKeys struct {
	KeySource
	mu    sync.Mutex
	calls int
}

func (c *countingKeys) Keys(ctx context.Context, kid string) ([]Key, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.KeySource.Keys(ctx, kid)
}

func TestVerifierRefusesBeforeKeyLookup(t *testing.T) {
	clock := newTestClock()
	k := fixtureKeys()
	ck := &countingKeys{KeySource: staticKeys(t, jwk(k.rsa, "r", ""))}
	v := newTestVerifier(t, clock, func(c *VerifierConfig) { c.Keys = ck })
	other := baseClaims(clock.Now())
	other["iss"] = "https://other.test"
	for _, tok := range []string{
		rawJWT(t, map[string]any{"alg": "none", "kid": "r"}, baseClaims(clock.Now()), nil),
		signJWT(t, publicKeyPEM(t, k.rsa), jose.HS256, "r", baseClaims(clock.Now()), nil),
		signJWT(t, k.rsa, jose.PS256, "r", baseClaims(clock.Now()), nil),
		signJWT(t, k.rsa, jose.RS256, "r", other, nil),
		strings.Repeat("a", MaxTokenBytes+1),
		"a.b",
	} {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Fatal("accepted")
		}
	}
	if ck.calls != 0 {
		t.Errorf("%d key lookups for tokens refused on their face", ck.calls)
	}
}

func TestVerifierTimeClaims(t *testing.T) {
	clock := newTestClock()
	v := newTestVerifier(t, clock, func(c *VerifierConfig) { c.Leeway = 30 * time.Second; c.MaxAge = time.Hour })
	k := fixtureKeys()
	now := clock.Now()
	sec := func(d time.Duration) int64 { return now.Add(d).Unix() }
	cases := []struct {
		name   string
		mod    func(c map[string]any)
		reason string // "" accepted
	}{
		{"expired within leeway", func(c map[string]any) { c["exp"] = sec(-20 * time.Second) }, ""},
		{"expired beyond leeway", func(c map[string]any) { c["exp"] = sec(-31 * time.Second) }, ReasonExpired},
		{"expires now minus leeway exactly", func(c map[string]any) { c["exp"] = sec(-30 * time.Second) }, ReasonExpired},
		{"nbf within leeway", func(c map[string]any) { c["nbf"] = sec(20 * time.Second) }, ""},
		{"nbf beyond leeway", func(c map[string]any) { c["nbf"] = sec(31 * time.Second) }, ReasonNotYetValid},
		{"iat within leeway", func(c map[string]any) { c["iat"] = sec(20 * time.Second) }, ""},
		{"iat beyond leeway", func(c map[string]any) { c["iat"] = sec(31 * time.Second) }, ReasonIssuedInFuture},
		{"iat at max age", func(c map[string]any) { c["iat"] = sec(-time.Hour) }, ""},
		{"iat past max age", func(c map[string]any) { c["iat"] = sec(-time.Hour - time.Second) }, ReasonTooOld},
		{"no iat, short exp", func(c map[string]any) { delete(c, "iat") }, ""},
		{"no iat, exp beyond max age", func(c map[string]any) { delete(c, "iat"); c["exp"] = sec(2 * time.Hour) }, ReasonLifetime},
		{"fractional dates", func(c map[string]any) { c["iat"] = float64(sec(0)) + 0.5; c["exp"] = float64(sec(time.Minute)) + 0.25 }, ""},
		{"negative exp", func(c map[string]any) { c["exp"] = -1 }, ReasonClaims},
		{"huge exp", func(c map[string]any) { c["exp"] = 1e300 }, ReasonClaims},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, ReasonClaims},
		{"aud array with ours", func(c map[string]any) { c["aud"] = []string{"x", "aicred"} }, ""},
		{"aud array without ours", func(c map[string]any) { c["aud"] = []string{"x", "y"} }, ReasonWrongAudience},
		{"aud array with a number", func(c map[string]any) { c["aud"] = []any{"aicred", 1} }, ReasonClaims},
		{"aud prefix of ours", func(c map[string]any) { c["aud"] = "aicre" }, ReasonWrongAudience},
		{"sub is a number", func(c map[string]any) { c["sub"] = 1 }, ReasonClaims},
		{"jti is an object", func(c map[string]any) { c["jti"] = map[string]any{} }, ReasonClaims},
		{"iss with trailing slash", func(c map[string]any) { c["iss"] = testIssuer + "/" }, ReasonWrongIssuer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims := baseClaims(now)
			c.mod(claims)
			_, err := v.Verify(context.Background(), signJWT(t, k.rsa, jose.RS256, "r", claims, nil))
			if got := reasonOf(err); got != c.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, c.reason)
			}
		})
	}
}

func TestVerifierReplay(t *testing.T) {
	clock := newTestClock()
	cache := NewMemoryReplayCache(clock.Now)
	v := newTestVerifier(t, clock, func(c *VerifierConfig) { c.Replay = cache; c.RequireJTI = true })
	k := fixtureKeys()
	claims := baseClaims(clock.Now())
	claims["jti"] = "abc"
	tok := signJWT(t, k.rsa, jose.RS256, "r", claims, nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonReplayed {
		t.Fatalf("replay: %v", err)
	}
	// Same jti, other token: still a replay.
	claims["sub"] = "other"
	if _, err := v.Verify(context.Background(), signJWT(t, k.rsa, jose.RS256, "r", claims, nil)); reasonOf(err) != ReasonReplayed {
		t.Fatalf("same jti: %v", err)
	}
	delete(claims, "jti")
	if _, err := v.Verify(context.Background(), signJWT(t, k.rsa, jose.RS256, "r", claims, nil)); reasonOf(err) != ReasonJTIRequired {
		t.Fatalf("no jti: %v", err)
	}
	// After expiry (plus leeway) the entry is forgotten.
	clock.Advance(time.Hour)
	cache.Remember(context.Background(), [32]byte{1}, clock.Now().Add(time.Minute))
	if cache.Len() != 1 {
		t.Errorf("replay cache holds %d entries after expiry", cache.Len())
	}
}

func TestVerifierConfigBounds(t *testing.T) {
	k := staticKeys(t, jwk(fixtureKeys().rsa, "r", ""))
	for _, c := range []VerifierConfig{
		{Audiences: []string{"a"}},
		{Keys: k},
		{Keys: k, Audiences: []string{""}},
		{Keys: k, Audiences: []string{"a"}, Leeway: 6 * time.Minute},
		{Keys: k, Audiences: []string{"a"}, Leeway: -time.Second},
		{Keys: k, Audiences: []string{"a"}, MaxAge: 25 * time.Hour},
		{Keys: k, Audiences: []string{"a"}, MaxAge: time.Second},
		{Keys: k, Audiences: []string{"a"}, RequireJTI: true},
	} {
		if _, err := NewVerifier(c); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("NewVerifier(%+v) = %v", c, err)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	k := fixtureKeys()
	hmac := `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}`
	good := jwk(k.rsa, "r", "sig")
	gb, _ := good.MarshalJSON()
	private := jose.JSONWebKey{Key: k.ec, KeyID: "p"}
	pb, _ := private.MarshalJSON()
	ps := jose.JSONWebKey{Key: &k.rsa2.PublicKey, KeyID: "ps", Algorithm: "PS256"}
	psb, _ := ps.MarshalJSON()
	enc := jose.JSONWebKey{Key: &k.rsa2.PublicKey, KeyID: "enc", Use: "enc"}
	encb, _ := enc.MarshalJSON()
	small := jwk(k.small, "s", "")
	sb, _ := small.MarshalJSON()
	data := `{"keys":[` + strings.Join([]string{hmac, string(gb), string(pb), string(psb), string(encb), string(sb), `{"kty":"weird"}`, `7`}, ",") + `]}`
	keys, skipped, err := ParseJWKS([]byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || skipped != 6 {
		t.Fatalf("kept %d skipped %d, want 2 and 6", len(keys), skipped)
	}
	for _, key := range keys {
		switch key.ID {
		case "r":
		case "p": // the public half of a published private key
			if key.Alg != AlgES256 {
				t.Errorf("p: %s", key.Alg)
			}
		default:
			t.Errorf("kept key %q", key.ID)
		}
	}
	for _, bad := range []string{`{"keys":[]}`, `{}`, `[`, `{"keys":[` + hmac + `]}`} {
		if _, _, err := ParseJWKS([]byte(bad), nil); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("ParseJWKS(%s) = %v", bad, err)
		}
	}
}

func TestRemoteKeysRotationAndConcurrency(t *testing.T) {
	k := fixtureKeys()
	p := newIDP(t, jwk(k.rsa, "one", ""))
	clock := newTestClock()
	rk, err := NewRemoteKeys(RemoteKeysConfig{Issuer: p.issuer, Client: p.srv.Client(), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A burst of cold requests makes one fetch.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if ks, err := rk.Keys(ctx, "one"); err != nil || len(ks) != 1 {
				t.Errorf("Keys: %v %v", ks, err)
			}
		})
	}
	wg.Wait()
	if n := p.jwksHits.Load(); n != 1 {
		t.Fatalf("%d fetches for a burst of 20", n)
	}
	// Rotation: the new kid is fetched once the interval has passed.
	p.setKeys(t, jwk(k.rsa, "one", ""), jwk(k.ec, "two", ""))
	clock.Advance(DefaultMinRefreshInterval)
	if ks, err := rk.Keys(ctx, "two"); err != nil || len(ks) != 1 || ks[0].Alg != AlgES256 {
		t.Fatalf("rotated key: %v %v", ks, err)
	}
	// A stale cache is refreshed on use.
	clock.Advance(DefaultRefreshInterval)
	if _, err := rk.Keys(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if n := p.jwksHits.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
	// A cancelled request waiting for a cold cache gives up.
	p2 := newIDP(t, jwk(k.rsa, "one", ""))
	rk2, _ := NewRemoteKeys(RemoteKeysConfig{Issuer: p2.issuer, Client: p2.srv.Client(), Clock: clock.Now})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	rk2.sem <- struct{}{} // a fetch "in flight"
	if _, err := rk2.Keys(cctx, "one"); !errors.Is(err, context.Canceled) && aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Errorf("cancelled: %v", err)
	}
	<-rk2.sem
}

func TestRemoteKeysConfig(t *testing.T) {
	for _, c := range []RemoteKeysConfig{
		{Issuer: "http://issuer.test"},
		{Issuer: "issuer.test"},
		{Issuer: "https://issuer.test?x=1"},
		{Issuer: "https://issuer.test", JWKSURL: "http://issuer.test/jwks"},
		{Issuer: "https://issuer.test", MinRefreshInterval: time.Hour},
		{Issuer: "https://issuer.test", RefreshInterval: 48 * time.Hour, MaxCacheAge: 24 * time.Hour},
		{Issuer: "https://issuer.test", MaxCacheAge: 30 * 24 * time.Hour},
		{Issuer: "https://issuer.test", FetchTimeout: -1},
	} {
		if _, err := NewRemoteKeys(c); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("NewRemoteKeys(%+v) = %v", c, err)
		}
	}
}

func TestRemoteKeysRefusesBadResponses(t *testing.T) {
	clock := newTestClock()
	for name, handler := range map[string]http.HandlerFunc{
		"jwks_uri over http": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"issuer":"` + "ISSUER" + `","jwks_uri":"http://127.0.0.1/jwks"}`))
		},
		"huge discovery": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat(" ", maxJWKSBytes+10)))
		},
		"not JSON": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) },
	} {
		t.Run(name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rw := &replacingWriter{ResponseWriter: w, from: "ISSUER", to: srv.URL}
				handler(rw, r)
			}))
			defer srv.Close()
			rk, err := NewRemoteKeys(RemoteKeysConfig{Issuer: srv.URL, Client: srv.Client(), Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rk.Keys(context.Background(), "x"); aicred.KindOf(err) != aicred.ErrUnavailable {
				t.Fatalf("Keys = %v", err)
			}
		})
	}
}

type replacingWriter struct {
	http.ResponseWriter
	from, to string
}

func (w *replacingWriter) Write(b []byte) (int, error) {
	_, err := w.ResponseWriter.Write([]byte(strings.ReplaceAll(string(b), w.from, w.to)))
	return len(b), err
}

func TestVerifierAmbiguousHeader(t *testing.T) {
	clock := newTestClock()
	v := newTestVerifier(t, clock, nil)
	parts := strings.Split(signJWT(t, fixtureKeys().rsa, jose.RS256, "r", baseClaims(clock.Now()), nil), ".")
	for _, h := range []string{
		`{"alg":"ES256","kid":"r","alg":"RS256"}`,
		`{"alg":"RS256","kid":"e","kid":"r"}`,
		`{"alg":"RS256","kid":"r","KID":"e"}`, // encoding/json folds case, go-jose does not
		`{"alg":"RS256","kid":"r","ALG":"none"}`,
	} {
		parts[0] = base64.RawURLEncoding.EncodeToString([]byte(h))
		if _, err := v.Verify(context.Background(), strings.Join(parts, ".")); err == nil {
			t.Errorf("header %s accepted", h)
		} else {
			checkRefusal(t, err, "")
		}
	}
}
