package broker

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func decodeClaims(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFlattenClaims(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  map[string]string // nil: refused
		isErr bool
	}{
		{"scalars", `{"sub":"a","n":7,"b":true,"f":false}`, map[string]string{"sub": "a", "n": "7", "b": "true", "f": "false"}, false},
		{"nested", `{"org":{"team":"ml","id":7}}`, map[string]string{"org.team": "ml", "org.id": "7"}, false},
		{"dotted name alone", `{"org.team":"ml","org":{"unit":"x"}}`, map[string]string{"org.team": "ml", "org.unit": "x"}, false},
		{"arrays and nulls left out", `{"g":["a"],"z":null,"o":{"a":[1]}}`, map[string]string{}, false},
		{"depth bound", `{"a":{"b":{"c":{"d":"4","e":{"f":"5"}}}}}`, map[string]string{"a.b.c.d": "4"}, false},
		{"empty name holding sub", `{"":{"sub":"victim"},"sub":"attacker"}`, nil, true},
		{"empty name holding sub, no sub", `{"":{"sub":"victim"}}`, nil, true},
		{"empty top-level name", `{"":"x","sub":"a"}`, nil, true},
		{"empty nested name", `{"a":{"":"x"},"a.":"y"}`, nil, true},
		{"empty nested name alone", `{"a":{"":"x"}}`, nil, true},
		{"empty name holding an array", `{"":[1],"sub":"a"}`, nil, true},
		{"literal beside nested", `{"org.team":"evil","org":{"team":"ml"}}`, nil, true},
		{"nested dotted beside nested", `{"a":{"b.c":"1","b":{"c":"2"}}}`, nil, true},
		{"two dotted paths", `{"a.b":{"c":"1"},"a":{"b.c":"2"}}`, nil, true},
		{"collision at the depth bound", `{"a.b.c.d":"1","a":{"b":{"c":{"d":"2"}}}}`, nil, true},
		{"collision beyond the bound is not flattened", `{"a.b.c.d.e":"1","a":{"b":{"c":{"d":{"e":"2"}}}}}`, map[string]string{"a.b.c.d.e": "1"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims := decodeClaims(t, c.in)
			// Map order varies from run to run: ask many times.
			for range 50 {
				got, err := flattenClaims(claims)
				if c.isErr {
					var e *Error
					if !errors.As(err, &e) || e.Code != CodeInvalidGrant || e.Reason != ReasonClaims {
						t.Fatalf("want an invalid_grant refusal, got %v (%v)", err, got)
					}
					for _, v := range []string{"victim", "attacker", "evil"} {
						if strings.Contains(err.Error(), v) {
							t.Fatalf("the refusal quotes a claim value: %v", err)
						}
					}
					continue
				}
				if err != nil || !maps.Equal(got, c.want) {
					t.Fatalf("got %v, %v; want %v", got, err, c.want)
				}
			}
		})
	}
}

func TestTopLevelStringsEmptyName(t *testing.T) {
	var e *Error
	if _, err := topLevelStrings(decodeClaims(t, `{"":"x","repository":"acme/api"}`)); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Fatalf("an empty claim name: %v", err)
	}
	got, err := topLevelStrings(decodeClaims(t, `{"repository":"acme/api","o":{"a":"b"},"n":1}`))
	if err != nil || !maps.Equal(got, map[string]string{"repository": "acme/api", "n": "1"}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestAddDerived(t *testing.T) {
	cases := []struct {
		name string
		base map[string]string
		kv   []string
		ok   bool
	}{
		{"new names", map[string]string{"sub": "s"}, []string{"namespace", "ml", "service_account", "sa"}, true},
		{"overrides a claim", map[string]string{"namespace": "token-said"}, []string{"namespace", "ml"}, false},
		{"sets a name twice", map[string]string{}, []string{"pod", "a", "pod", "b"}, false},
		{"empty name", map[string]string{}, []string{"", "a"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := maps.Clone(c.base)
			err := addDerived(c.base, c.kv...)
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
			if !c.ok {
				for k, v := range before {
					if c.base[k] != v {
						t.Fatalf("a refused derivation overwrote %q", k)
					}
				}
			}
		})
	}
}

func TestHasDuplicateKeys(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":2}`, false},
		{`{"a":1,"a":2}`, true},
		{`{"sub":"x","s\u0075b":"y"}`, true},
		{`{"o":{"k":1,"k":2}}`, true},
		{`{"o":{"k":1},"p":{"k":1}}`, false},
		{`{"a":[{"b":1,"b":2}]}`, true},
		{`{"a":[{"b":1},{"b":2}],"b":3}`, false},
		{`{"a":["a","a"]}`, false},
		{`{"a":{"b":{"c":{}}},"c":{"b":1}}`, false},
	}
	for _, c := range cases {
		if got := hasDuplicateKeys([]byte(c.in)); got != c.want {
			t.Errorf("%s: %v, want %v", c.in, got, c.want)
		}
	}
}

// signPayload signs a payload as written, for tokens json.Marshal of a
// map cannot produce (a claim named twice).
func signPayload(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExchangeAmbiguousClaims exchanges tokens whose claims could be read
// as another workload's ("corp-svc" trusts sub svc-1) fifty times each:
// every exchange is refused, none depends on map order.
func TestExchangeAmbiguousClaims(t *testing.T) {
	f := newFixture(t)
	now := f.now().Unix()
	dupPayload := func() string {
		return `{"iss":"` + f.oidc.issuer + `","aud":"` + testAudience + `","sub":"attacker","sub":"svc-1","iat":` +
			jsonInt(now) + `,"exp":` + jsonInt(now+600) + `}`
	}
	cases := []struct {
		name  string
		token func() string
	}{
		{"empty name holding sub", func() string {
			return f.oidcToken(func(c map[string]any) { c["sub"] = "attacker"; c[""] = map[string]any{"sub": "svc-1"} })
		}},
		{"literal dotted name beside nested", func() string {
			return f.oidcToken(func(c map[string]any) { c["org.unit"] = "finance" })
		}},
		{"sub named twice", func() string { return signPayload(t, f.keys.rsa2, jose.RS256, "corp-1", dupPayload()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 50 {
				tok := c.token()
				rec := f.post(exchangeForm(tok))
				r := decodeResponse(t, rec)
				if rec.Code != http.StatusBadRequest || r.Error != CodeInvalidGrant || r.AccessToken != "" {
					t.Fatalf("exchange %d: status %d, %+v", i, rec.Code, r)
				}
				if strings.Contains(r.ErrorDescription, "svc-1") || strings.Contains(r.ErrorDescription, "finance") {
					t.Fatalf("the refusal quotes a claim value: %q", r.ErrorDescription)
				}
				assertNoSecret(t, "log", f.logBuf.String(), tok)
			}
		})
	}
	if n := f.tokens.Len(); n != 0 {
		t.Fatalf("%d tokens issued for ambiguous subject tokens", n)
	}
	// The same issuer's plain token still exchanges.
	if rec := f.post(exchangeForm(f.oidcToken(nil))); rec.Code != http.StatusOK {
		t.Fatalf("plain token: %d %s", rec.Code, rec.Body)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestDerivedClaimsWin: the Kubernetes and SPIFFE proofs build their
// claim views from derived values only, so a token claim of the same
// name ("namespace", "trust_domain") can neither override nor stand in
// for one; the exchange goes by what the proof derived.
func TestDerivedClaimsWin(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, token, policy string
		claims              map[string]string // derived, as the policy sees them
	}{
		{"kubernetes", f.k8sToken(func(c map[string]any) {
			c["namespace"], c["service_account"], c["pod"] = "kube-system", "admin", "evil"
		}), "ml-trainer", map[string]string{"namespace": "ml", "service_account": "trainer", "pod": "trainer-7d9f"}},
		{"spiffe", f.spiffeToken(func(c map[string]any) {
			c["trust_domain"], c["path"], c["spiffe_id"] = "evil.org", "/ns/prod/sa/admin", "spiffe://evil.org/x"
		}), "spiffe-ml", map[string]string{"trust_domain": testTrustDomain, "path": "/ns/ml/sa/trainer", "spiffe_id": "spiffe://example.org/ns/ml/sa/trainer"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var proof Proof
			for _, p := range f.x.proofs {
				if c.name == "kubernetes" && p.Name() == "prod-cluster" || c.name == "spiffe" && p.Name() == "spire" {
					proof = p
				}
			}
			id, err := proof.Verify(context.Background(), c.token)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.claims {
				if id.Claims[k] != v {
					t.Errorf("claim %s = %q, want the derived %q", k, id.Claims[k], v)
				}
			}
			rec := f.post(exchangeForm(c.token))
			if rec.Code != http.StatusOK {
				t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
			}
			if n := len(f.logRecords("token issued")); n == 0 || f.logRecords("token issued")[n-1]["policy"] != c.policy {
				t.Fatalf("issued under %v, want %s", f.logRecords("token issued"), c.policy)
			}
		})
	}
}
