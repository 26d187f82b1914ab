package broker

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

var knownCodes = []string{CodeInvalidRequest, CodeInvalidGrant, CodeUnsupportedGrantType, CodeInvalidScope, CodeInvalidTarget, CodeTemporarilyUnavailable, CodeServerError}

// checkRefusal asserts err is a well-formed refusal that does not echo input.
func checkRefusal(t *testing.T, err error, input string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not an *Error: %T %v", err, err)
	}
	if !slices.Contains(knownCodes, e.Code) || e.Reason == "" || e.Description == "" {
		t.Fatalf("malformed refusal %+v", e)
	}
	if len(input) >= 16 && (strings.Contains(err.Error(), input) || strings.Contains(e.Description, input)) {
		t.Fatalf("error echoes the input: %v", err)
	}
}

// FuzzVerify feeds arbitrary strings, seeded with real tokens of each
// algorithm and known forgeries, to a verifier. Nothing may panic, every
// refusal is an *Error that does not echo the token, and nothing the
// fuzzer builds may verify unless it carries a seed's signed content.
func FuzzVerify(f *testing.F) {
	clock := newTestClock()
	v := newTestVerifier(f, clock, nil)
	k := fixtureKeys()
	claims := baseClaims(clock.Now())
	claims["nested"] = map[string]any{"a": []any{1, "x"}, "b": map[string]any{"c": true}}
	var payloads []string
	for _, s := range []struct {
		key any
		alg jose.SignatureAlgorithm
		kid string
	}{{k.rsa, jose.RS256, "r"}, {k.ec, jose.ES256, "e"}, {k.ed, jose.EdDSA, "d"}} {
		tok := signJWT(f, s.key, s.alg, s.kid, claims, nil)
		payloads = append(payloads, strings.Split(tok, ".")[1])
		f.Add(tok)
	}
	f.Add(rawJWT(f, map[string]any{"alg": "none"}, claims, nil))
	f.Add(signJWT(f, publicKeyPEM(f, k.rsa), jose.HS256, "r", claims, nil))
	f.Add("e30.e30.")
	f.Add("..")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw)
		if err != nil {
			checkRefusal(t, err, raw)
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 || !slices.Contains(payloads, parts[1]) || tok.Subject != "w" {
			t.Fatalf("accepted a token with unsigned content: %q", raw)
		}
	})
}

// FuzzParseClaims checks the claim parser and the flat claim view on
// arbitrary payloads.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{"iss":"a","sub":"b","aud":["c","d"],"exp":1700000000,"iat":1.5,"nbf":0}`,
		`{"aud":"x","exp":"1"}`, `{"kubernetes.io":{"namespace":"ns","pod":{"name":"p"}}}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}`, `{"exp":1e400}`, `{"exp":-0}`, `[]`, `null`, `{} {}`,
		`{"sub":"\ud800"}`, `{"aud":[null]}`,
		`{"":{"sub":"x"},"sub":"y"}`, `{"org.team":"a","org":{"team":"b"}}`, `{"a":{"":1}}`,
		`{"sub":"a","sub":"b"}`, `{"o":{"k":1,"k":2}}`, `{"a":[{"b":1,"b":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := parseClaims(payload)
		if err != nil {
			checkRefusal(t, err, string(payload))
			return
		}
		for _, tm := range []time.Time{tok.Expiry, tok.NotBefore, tok.IssuedAt} {
			if !tm.IsZero() && (tm.Before(time.Unix(0, 0)) || tm.Year() > 5200) {
				t.Fatalf("date out of range: %v", tm)
			}
		}
		// Flattening is a function of the token: the same claims give the
		// same view or the same refusal, whatever the map order.
		flat, ferr := flattenClaims(tok.Claims)
		for range 3 {
			again, aerr := flattenClaims(tok.Claims)
			if (ferr == nil) != (aerr == nil) || ferr != nil && ferr.Error() != aerr.Error() || !maps.Equal(flat, again) {
				t.Fatalf("flattening %s is not deterministic: %v / %v", payload, ferr, aerr)
			}
		}
		if ferr != nil {
			checkRefusal(t, ferr, string(payload))
			return
		}
		// No top-level claim is shadowed by a nested one.
		for k, v := range tok.Claims {
			if s, ok := scalarString(v); ok && flat[k] != s {
				t.Fatalf("claim %q reads %q in the flat view of %s", k, flat[k], payload)
			}
			if k == "" {
				t.Fatalf("an empty claim name was flattened from %s", payload)
			}
		}
	})
}

// FuzzParseExchangeRequest parses arbitrary form bodies.
func FuzzParseExchangeRequest(f *testing.F) {
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	f.Add(exchangeForm(tok).Encode())
	f.Add(exchangeForm(tok, "audience", "openai", "audience", "x", "resource", "https://a/b", "scope", "chat model:gpt-4o").Encode())
	f.Add(exchangeForm(tok, "subject_token", tok).Encode())
	f.Add(exchangeForm(tok, "actor_token", tok).Encode())
	f.Add("grant_type=client_credentials")
	f.Add("grant_type=%zz&subject_token=" + tok)
	f.Add("a=1;b=2")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, err := ParseExchangeRequest(form)
		if err != nil {
			checkRefusal(t, err, form.Get("subject_token"))
			var e *Error
			errors.As(err, &e)
			if e.Code != CodeInvalidRequest && e.Code != CodeUnsupportedGrantType {
				t.Fatalf("code %s for a request parse error", e.Code)
			}
			return
		}
		if req.SubjectToken == "" || len(req.SubjectToken) > MaxTokenBytes || form.Get("grant_type") != GrantTypeTokenExchange {
			t.Fatalf("accepted %+v", req)
		}
		if req.SubjectTokenType != TokenTypeJWT && req.SubjectTokenType != TokenTypeIDToken {
			t.Fatalf("accepted subject_token_type %q", req.SubjectTokenType)
		}
	})
}

// FuzzTokenEndpoint sends arbitrary bodies through the whole handler of a
// broker with real issuers: no panic, JSON answers, no-store, and the
// subject token never in the response.
func FuzzTokenEndpoint(f *testing.F) {
	fx := newFixture(f)
	f.Add(exchangeForm(fx.githubToken(nil)).Encode())
	f.Add(exchangeForm(fx.k8sToken(nil), "scope", "chat").Encode())
	f.Add(exchangeForm(fx.spiffeToken(nil), "audience", "openai").Encode())
	f.Add(exchangeForm(fx.oidcToken(nil), "scope", "model:gpt-4o*").Encode())
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		fx.x.ServeHTTP(rec, req)
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatal("no Cache-Control: no-store")
		}
		r := decodeResponse(t, rec)
		if rec.Code == http.StatusOK {
			if r.AccessToken == "" {
				t.Fatal("200 without a token")
			}
			return
		}
		if r.Error == "" || !slices.Contains(knownCodes, r.Error) {
			t.Fatalf("status %d error %q", rec.Code, r.Error)
		}
		if form, err := url.ParseQuery(body); err == nil {
			if st := form.Get("subject_token"); len(st) >= 16 && strings.Contains(rec.Body.String(), st) {
				t.Fatal("response echoes the subject token")
			}
		}
	})
}

// FuzzGlob checks the glob matcher against a regular expression built
// from the same pattern.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"repo:acme/*", "repo:acme/api:ref:refs/heads/main"}, {"a*b*c", "aXbYbZc"}, {"?", "é"},
		{`a\*`, "a*"}, {"*", ""}, {"a**b", "ab"}, {"gpt-4o*", "gpt-4o-mini"}, {"*a*a*a*a*a*b", strings.Repeat("a", 40)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(s) {
			return
		}
		g, err := compileGlob(pattern)
		if err != nil {
			return
		}
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for _, tk := range g.toks {
			switch tk.kind {
			case globStar:
				re.WriteString(`.*`)
			case globOne:
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(tk.r)))
			}
		}
		re.WriteString(`)$`)
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := g.Match(s); got != want {
			t.Fatalf("glob %q on %q: %v, regexp says %v", pattern, s, got, want)
		}
		if !strings.HasPrefix(s, g.prefix) && g.Match(s) {
			t.Fatalf("glob %q matched %q without its literal prefix %q", pattern, s, g.prefix)
		}
	})
}

// FuzzSPIFFEID checks that an accepted SPIFFE ID is exactly
// spiffe://TRUST-DOMAIN + PATH with no dot segments.
func FuzzSPIFFEID(f *testing.F) {
	for _, s := range []string{"spiffe://example.org/ns/ml/sa/x", "spiffe://example.org", "spiffe://Example.org/x", "spiffe://a/../b", "spiffe://a/b/", "spiffe://a:80/b", "spiffe://u@a/b", "spiffe://a/b?c", "spiffe://a/%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		td, path, ok := parseSPIFFEID(id)
		if !ok {
			return
		}
		if "spiffe://"+td+path != id || strings.Contains(path, "/./") || strings.Contains(path, "/../") || strings.HasSuffix(path, "/") ||
			strings.ContainsAny(id[len("spiffe://"):], "?#%@:") {
			t.Fatalf("accepted %q as %q %q", id, td, path)
		}
	})
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"repo:acme/*", "repo:acme/api:ref:refs/heads/main", true},
		{"repo:acme/*", "repo:acme-evil/api", false},
		{"refs/heads/release/*", "refs/heads/release/1.2", true},
		{"refs/heads/release/*", "refs/heads/main", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"a?c", "aéc", true},
		{`a\*c`, "a*c", true}, {`a\*c`, "abc", false},
		{"*.example.com", "x.example.com", true}, {"*.example.com", "example.com", false},
		{"a*b*c", "abc", true}, {"a*b*c", "acb", false},
	}
	for _, c := range cases {
		g, err := compileGlob(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Match(c.s); got != c.want {
			t.Errorf("%q.Match(%q) = %v", c.pattern, c.s, got)
		}
	}
	if _, err := compileGlob(`a\`); err == nil {
		t.Error("lone backslash accepted")
	}
	// Pathological patterns stay linear-ish.
	g, _ := compileGlob(strings.Repeat("*a", 50) + "b")
	start := time.Now()
	g.Match(strings.Repeat("a", 10000))
	if d := time.Since(start); d > time.Second {
		t.Errorf("pathological match took %s", d)
	}
}

func TestGlobCovers(t *testing.T) {
	for _, c := range []struct {
		role, req string
		want      bool
	}{
		{"gpt-4o*", "gpt-4o", true}, {"gpt-4o*", "gpt-4o-mini", true}, {"gpt-4o*", "gpt-4o-mini*", true},
		{"gpt-4o*", "gpt-4o*", true}, {"gpt-4o*", "gpt-*", false}, {"gpt-4o*", "*", false},
		{"gpt-4?", "gpt-4*", false}, {"gpt-4?", "gpt-4o", true}, {"*", "anything*", true}, {"claude-*", "gpt-4o", false},
	} {
		r, _ := compileGlob(c.role)
		q, _ := compileGlob(c.req)
		if got := r.covers(q); got != c.want {
			t.Errorf("%q covers %q = %v", c.role, c.req, got)
		}
	}
}
