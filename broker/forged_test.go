package broker

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// forgedCase is one hostile (or degraded) subject token, sent through the
// HTTP handler of a fresh broker whose issuers are local TLS servers.
type forgedCase struct {
	name string
	// token builds the subject token; it may also warm caches, take an
	// issuer down or move the clock.
	token  func(t *testing.T, f *fixture) string
	status int
	code   string // RFC 6749 §5.2 error; "" for an accepted token
	reason string
	// check runs extra assertions after the exchange.
	check func(t *testing.T, f *fixture)
}

// warm makes one successful exchange so the GitHub key cache is filled.
func (f *fixture) warm(t *testing.T) {
	t.Helper()
	if rec := f.post(exchangeForm(f.githubToken(nil))); rec.Code != http.StatusOK {
		t.Fatalf("warm-up exchange failed: %d %s", rec.Code, rec.Body)
	}
}

// mutateSegment re-encodes one segment (0 header, 1 payload) of a token
// after mod changes its JSON, keeping the original signature.
func mutateSegment(t *testing.T, tok string, seg int, mod func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[seg])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mod(m)
	b, _ = json.Marshal(m)
	parts[seg] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func forgedCases() []forgedCase {
	bad := func(name, code, reason string, token func(t *testing.T, f *fixture) string) forgedCase {
		status := http.StatusBadRequest
		if code == CodeTemporarilyUnavailable {
			status = http.StatusServiceUnavailable
		}
		return forgedCase{name: name, token: token, status: status, code: code, reason: reason}
	}
	gh := func(mod func(f *fixture, c map[string]any)) func(t *testing.T, f *fixture) string {
		return func(t *testing.T, f *fixture) string {
			return f.githubToken(func(c map[string]any) { mod(f, c) })
		}
	}
	cases := []forgedCase{
		// Algorithms.
		bad("alg none", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return rawJWT(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "gh-rsa"}, f.githubClaims(), nil)
		}),
		bad("alg None with a signature", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return rawJWT(t, map[string]any{"alg": "None", "kid": "gh-rsa"}, f.githubClaims(), []byte("sig"))
		}),
		bad("HS256 keyed with the issuer's public key (alg confusion)", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return signJWT(t, publicKeyPEM(t, f.keys.rsa), jose.HS256, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("HS256 keyed with the JWK modulus", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa.PublicKey.N.Bytes(), jose.HS256, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("PS256 signed by the issuer's real key", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.PS256, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("RS512 signed by the issuer's real key", CodeInvalidGrant, ReasonAlgNotAllowed, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.RS512, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("kid names an RSA key, token is ES256", CodeInvalidGrant, ReasonKeyMismatch, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.ec, jose.ES256, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("kid names an EC key, token is RS256", CodeInvalidGrant, ReasonKeyMismatch, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.RS256, "gh-ec", f.githubClaims(), nil)
		}),
		bad("no kid while the issuer has two keys", CodeInvalidGrant, ReasonKIDRequired, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.RS256, "", f.githubClaims(), nil)
		}),
		bad("typ at+jwt", CodeInvalidGrant, ReasonTypNotAllowed, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.RS256, "gh-rsa", f.githubClaims(), map[string]any{"typ": "at+jwt"})
		}),
		bad("critical header extension", CodeInvalidGrant, ReasonCritUnsupported, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa, jose.RS256, "gh-rsa", f.githubClaims(), map[string]any{"crit": []string{"exp"}, "exp": 1})
		}),

		// Signatures and tampering.
		bad("tampered payload (repository swapped)", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			return mutateSegment(t, f.githubToken(nil), 1, func(c map[string]any) { c["repository"] = "acme/evil" })
		}),
		bad("tampered payload (exp extended)", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			return mutateSegment(t, f.githubToken(nil), 1, func(c map[string]any) { c["exp"] = f.now().Add(24 * time.Hour).Unix() })
		}),
		bad("tampered header (extra field)", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			return mutateSegment(t, f.githubToken(nil), 0, func(h map[string]any) { h["x5t"] = "AAAA" })
		}),
		bad("tampered signature", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			tok := f.githubToken(nil)
			i := strings.LastIndexByte(tok, '.') + 5
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return tok[:i] + string(c) + tok[i+1:]
		}),
		bad("signed by an attacker's key under the issuer's kid", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.attacker, jose.RS256, "gh-rsa", f.githubClaims(), nil)
		}),
		bad("attacker's key embedded in the header (jwk)", CodeInvalidGrant, ReasonBadSignature, func(t *testing.T, f *fixture) string {
			pub := jwk(f.keys.attacker, "gh-rsa", "sig")
			return signJWT(t, f.keys.attacker, jose.RS256, "gh-rsa", f.githubClaims(), map[string]any{"jwk": pub})
		}),
		{
			name: "jku header pointing at an attacker's key set", status: 400, code: CodeInvalidGrant, reason: ReasonBadSignature,
			token: func(t *testing.T, f *fixture) string {
				evil := newIDP(t, jwk(f.keys.attacker, "gh-rsa", "sig"))
				f.t.(*testing.T).Cleanup(func() {
					if evil.jwksHits.Load() != 0 {
						t.Error("the broker fetched a key set named by the token")
					}
				})
				return signJWT(t, f.keys.attacker, jose.RS256, "gh-rsa", f.githubClaims(), map[string]any{"jku": evil.issuer + "/jwks"})
			},
		},

		// Issuer and audience.
		bad("unknown issuer (the real GitHub)", CodeInvalidGrant, ReasonUnknownIssuer, gh(func(f *fixture, c map[string]any) { c["iss"] = GitHubActionsIssuer })),
		bad("iss is not a string", CodeInvalidGrant, ReasonUnknownIssuer, gh(func(f *fixture, c map[string]any) { c["iss"] = []string{f.github.issuer} })),
		bad("token of one issuer claiming another (GitHub key, corp iss)", CodeInvalidGrant, ReasonUnknownKID, gh(func(f *fixture, c map[string]any) { c["iss"] = f.oidc.issuer })),
		bad("wrong audience", CodeInvalidGrant, ReasonWrongAudience, gh(func(f *fixture, c map[string]any) { c["aud"] = "https://github.com/acme" })),
		bad("no audience", CodeInvalidGrant, ReasonWrongAudience, gh(func(f *fixture, c map[string]any) { delete(c, "aud") })),
		bad("Kubernetes token minted for the API server", CodeInvalidGrant, ReasonWrongAudience, func(t *testing.T, f *fixture) string {
			return f.k8sToken(func(c map[string]any) { c["aud"] = []string{"https://kubernetes.default.svc"} })
		}),

		// Time.
		bad("expired", CodeInvalidGrant, ReasonExpired, gh(func(f *fixture, c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = f.now().Add(-10*time.Minute).Unix(), f.now().Add(-10*time.Minute).Unix(), f.now().Add(-time.Minute).Unix()
		})),
		bad("not yet valid (nbf beyond leeway)", CodeInvalidGrant, ReasonNotYetValid, gh(func(f *fixture, c map[string]any) {
			c["nbf"], c["iat"] = f.now().Add(2*time.Minute).Unix(), f.now().Unix()
		})),
		bad("iat in the future beyond leeway", CodeInvalidGrant, ReasonIssuedInFuture, gh(func(f *fixture, c map[string]any) {
			delete(c, "nbf")
			c["iat"] = f.now().Add(2 * time.Minute).Unix()
		})),
		bad("too old (iat 2h ago, exp still ahead)", CodeInvalidGrant, ReasonTooOld, gh(func(f *fixture, c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = f.now().Add(-2*time.Hour).Unix(), f.now().Add(-2*time.Hour).Unix(), f.now().Add(time.Hour).Unix()
		})),
		bad("no exp", CodeInvalidGrant, ReasonClaims, gh(func(f *fixture, c map[string]any) { delete(c, "exp") })),
		bad("exp is a string", CodeInvalidGrant, ReasonClaims, gh(func(f *fixture, c map[string]any) { c["exp"] = "tomorrow" })),
		bad("aud is a number", CodeInvalidGrant, ReasonClaims, gh(func(f *fixture, c map[string]any) { c["aud"] = 7 })),

		// Shape and size.
		bad("oversized token (over 16 KB)", CodeInvalidRequest, ReasonTooLarge, gh(func(f *fixture, c map[string]any) {
			c["pad"] = strings.Repeat("x", MaxTokenBytes)
		})),
		bad("two parts", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			tok := f.githubToken(nil)
			return tok[:strings.LastIndexByte(tok, '.')]
		}),
		bad("five parts (JWE)", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			return f.githubToken(nil) + ".e30.e30"
		}),
		bad("header is not base64url", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			tok := f.githubToken(nil)
			return "!!!" + tok[3:]
		}),
		bad("header is not JSON", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			tok := f.githubToken(nil)
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"`)) + tok[strings.IndexByte(tok, '.'):]
		}),
		bad("payload is not JSON", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			tok := f.githubToken(nil)
			parts := strings.Split(tok, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte("not json"))
			return strings.Join(parts, ".")
		}),
		bad("not a JWT at all", CodeInvalidRequest, ReasonMalformed, func(t *testing.T, f *fixture) string {
			return "ghs_0123456789abcdefghijABCDEFGHIJ012345"
		}),

		// Keys: unknown kid, rotation, outage.
		{
			name: "unknown kid: one refetch, then refused without another", status: 400, code: CodeInvalidGrant, reason: ReasonUnknownKID,
			token: func(t *testing.T, f *fixture) string {
				f.warm(t)
				if n := f.github.jwksHits.Load(); n != 1 {
					t.Fatalf("%d key set fetches after warm-up", n)
				}
				f.clock.Advance(DefaultMinRefreshInterval + time.Second)
				first := signJWT(t, f.keys.rsa2, jose.RS256, "rotated-1", f.githubClaims(), nil)
				if rec := f.post(exchangeForm(first)); rec.Code != 400 {
					t.Fatalf("unknown kid accepted: %d", rec.Code)
				}
				if n := f.github.jwksHits.Load(); n != 2 {
					t.Fatalf("%d key set fetches after an unknown kid, want 2", n)
				}
				return signJWT(t, f.keys.rsa2, jose.RS256, "rotated-2", f.githubClaims(), nil)
			},
			check: func(t *testing.T, f *fixture) {
				if n := f.github.jwksHits.Load(); n != 2 {
					t.Errorf("%d key set fetches after a second unknown kid within the interval, want 2", n)
				}
			},
		},
		{
			name: "key set endpoint down, warm cache: accepted", status: http.StatusOK,
			token: func(t *testing.T, f *fixture) string {
				f.warm(t)
				f.github.down.Store(true)
				f.clock.Advance(10 * time.Minute) // stale (refresh 5m) but younger than max_cache_age (1h)
				return f.githubToken(nil)
			},
			check: func(t *testing.T, f *fixture) {
				if f.github.discHits.Load() < 2 {
					t.Error("the stale cache was not refreshed")
				}
			},
		},
		bad("key set endpoint down, cold cache: fail closed", CodeTemporarilyUnavailable, ReasonKeysUnavailable, func(t *testing.T, f *fixture) string {
			f.github.down.Store(true)
			return f.githubToken(nil)
		}),
		bad("key set endpoint down past max_cache_age: fail closed", CodeTemporarilyUnavailable, ReasonKeysUnavailable, func(t *testing.T, f *fixture) string {
			f.warm(t)
			f.github.down.Store(true)
			f.clock.Advance(time.Hour + time.Minute)
			return f.githubToken(nil)
		}),
		bad("discovery document names another issuer (mix-up)", CodeTemporarilyUnavailable, ReasonKeysUnavailable, func(t *testing.T, f *fixture) string {
			f.github.badIssuer.Store(true)
			return f.githubToken(nil)
		}),
		bad("RSA-1024 key in the key set is never used", CodeInvalidGrant, ReasonUnknownKID, func(t *testing.T, f *fixture) string {
			f.github.setKeys(t, jwk(f.keys.rsa, "gh-rsa", "sig"), jwk(f.keys.small, "gh-small", "sig"))
			return signJWT(t, f.keys.small, jose.RS256, "gh-small", f.githubClaims(), nil)
		}),

		// Replay.
		{
			name: "replayed jti", status: 400, code: CodeInvalidGrant, reason: ReasonReplayed,
			token: func(t *testing.T, f *fixture) string {
				tok := f.githubToken(nil)
				if rec := f.post(exchangeForm(tok)); rec.Code != http.StatusOK {
					t.Fatalf("first use refused: %s", rec.Body)
				}
				return tok
			},
		},

		// Policies and subjects.
		bad("GitHub: wrong repository", CodeInvalidGrant, ReasonNoPolicy, gh(func(f *fixture, c map[string]any) {
			c["repository"], c["sub"] = "acme/website", "repo:acme/website:ref:refs/heads/main"
		})),
		bad("GitHub: same repository name under another owner", CodeInvalidGrant, ReasonNoPolicy, gh(func(f *fixture, c map[string]any) {
			c["repository"], c["repository_owner"], c["sub"] = "evil/api", "evil", "repo:evil/api:ref:refs/heads/main"
		})),
		bad("GitHub: right repository, other branch", CodeInvalidGrant, ReasonNoPolicy, gh(func(f *fixture, c map[string]any) { c["ref"] = "refs/heads/feature" })),
		bad("GitHub: repository outside repository_owner", CodeInvalidGrant, ReasonSubject, gh(func(f *fixture, c map[string]any) { c["repository_owner"] = "evil" })),
		bad("Kubernetes: wrong namespace", CodeInvalidGrant, ReasonNoPolicy, func(t *testing.T, f *fixture) string {
			return f.k8sToken(func(c map[string]any) {
				c["sub"] = "system:serviceaccount:default:trainer"
				c["kubernetes.io"].(map[string]any)["namespace"] = "default"
			})
		}),
		bad("Kubernetes: sub and kubernetes.io disagree", CodeInvalidGrant, ReasonSubject, func(t *testing.T, f *fixture) string {
			return f.k8sToken(func(c map[string]any) { c["kubernetes.io"].(map[string]any)["namespace"] = "kube-system" })
		}),
		bad("Kubernetes: sub is not a service account", CodeInvalidGrant, ReasonSubject, func(t *testing.T, f *fixture) string {
			return f.k8sToken(func(c map[string]any) { c["sub"] = "system:node:node-a" })
		}),
		bad("SPIFFE: ID outside the trust domain", CodeInvalidGrant, ReasonUnknownIssuer, func(t *testing.T, f *fixture) string {
			return f.spiffeToken(func(c map[string]any) { c["sub"] = "spiffe://evil.org/ns/ml/sa/trainer" })
		}),
		bad("SPIFFE: ID outside the trust domain, iss naming ours", CodeInvalidGrant, ReasonTrustDomain, func(t *testing.T, f *fixture) string {
			return f.spiffeToken(func(c map[string]any) {
				c["iss"], c["sub"] = "spiffe://example.org", "spiffe://evil.org/ns/ml/sa/trainer"
			})
		}),
		bad("SPIFFE: path with dot segments", CodeInvalidGrant, ReasonSubject, func(t *testing.T, f *fixture) string {
			return f.spiffeToken(func(c map[string]any) { c["sub"] = "spiffe://example.org/ns/ml/../../admin" })
		}),
		bad("SPIFFE: workload outside the policy", CodeInvalidGrant, ReasonNoPolicy, func(t *testing.T, f *fixture) string {
			return f.spiffeToken(func(c map[string]any) { c["sub"] = "spiffe://example.org/ns/web/sa/frontend" })
		}),
		bad("SPIFFE: signed with the bundle's X.509 key", CodeInvalidGrant, ReasonUnknownKID, func(t *testing.T, f *fixture) string {
			return signJWT(t, f.keys.rsa2, jose.RS256, "spire-x509", f.spiffeClaims(), nil)
		}),
		bad("SPIFFE: no audience", CodeInvalidGrant, ReasonWrongAudience, func(t *testing.T, f *fixture) string {
			return f.spiffeToken(func(c map[string]any) { delete(c, "aud") })
		}),
	}
	return cases
}

func TestForgedTokens(t *testing.T) {
	cases := forgedCases()
	if len(cases) < 20 {
		t.Fatalf("only %d forged-token cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tok := c.token(t, f)
			before := len(f.logRecords("token exchange refused"))
			rec := f.post(exchangeForm(tok))
			r := decodeResponse(t, rec)
			if rec.Code != c.status || r.Error != c.code {
				t.Fatalf("status %d error %q (%s), want %d %q", rec.Code, r.Error, r.ErrorDescription, c.status, c.code)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
			assertNoSecret(t, "response", rec.Body.String(), tok)
			assertNoSecret(t, "log", f.logBuf.String(), tok)
			if c.check != nil {
				c.check(t, f)
			}
			if c.code == "" {
				return
			}
			refusals := f.logRecords("token exchange refused")
			if len(refusals) != before+1 {
				t.Fatalf("%d refusal log lines for this request, want 1", len(refusals)-before)
			}
			last := refusals[len(refusals)-1]
			if last["reason"] != c.reason || last["error"] != c.code {
				t.Errorf("logged reason %v error %v, want %s %s (description %v)", last["reason"], last["error"], c.reason, c.code, last["description"])
			}
		})
	}
}
