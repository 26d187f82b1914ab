// Package broker trades a workload's own identity (a JWT from GitHub
// Actions, Kubernetes, SPIFFE or any OIDC issuer) for a short-lived aicred
// token scoped by a role: RFC 8693 token exchange.
//
// The path of a token is a straight line: the exchange routes a subject
// token to the Proof of its issuer, which verifies it (verify.go, keys from
// keys.go / remote.go) and returns an Identity; the first trust Policy of
// that proof whose conditions the identity meets names a Role; the
// requested scope can only narrow the role; a token is minted
// (provider.FormatToken) and its SHA-256 stored with the Grant in a
// TokenStore. Each way of proving identity is one file (oidc.go,
// kubernetes.go, github.go, spiffe.go) behind the Proof interface.
package broker

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// A Proof is one way a workload proves who it is: a kind of JWT, the
// issuer that signs it and the claims that name the workload.
type Proof interface {
	// Name is the name trust policies use to refer to this proof.
	Name() string
	// Issuer is the iss of the tokens this proof verifies, used to route
	// a subject token to its proof before any key lookup. A SPIFFE proof
	// whose tokens carry no iss answers "spiffe://" + trust domain.
	Issuer() string
	// Verify checks a JWT and returns the identity it proves.
	// Errors: *Error (invalid_request for a malformed token, invalid_grant
	// for one that does not verify, temporarily_unavailable when the
	// issuer's keys cannot be had).
	Verify(ctx context.Context, rawJWT string) (*Identity, error)
	// CheckPolicy refuses a trust policy that does not pin a workload of
	// this proof (OWASP NHI6): each proof knows which claims name a
	// subject, and which globs admit too much.
	CheckPolicy(p *Policy) error
}

// A Workload names a proven identity: the issuer and the subject within it.
type Workload struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

func (w Workload) String() string { return w.Issuer + " " + w.Subject }

// An Identity is what a Proof established about the bearer of a JWT.
type Identity struct {
	// Proof is the name of the proof that verified the token.
	Proof string
	Workload
	Audience []string
	IssuedAt time.Time // zero when the token has no iat
	Expiry   time.Time
	// TokenID is the jti, empty when absent.
	TokenID string
	// Claims is the flat view policies match against: scalar claims as
	// strings (numbers as written, booleans "true"/"false"), nested
	// objects flattened with "." (generic OIDC), and values each proof
	// derives (Kubernetes "namespace", "service_account"; SPIFFE
	// "trust_domain"). Arrays are left out, so no condition can match one.
	// Every name stands for exactly one thing in the token: a token whose
	// claims would flatten ambiguously is refused (flattenClaims), and
	// the Kubernetes and SPIFFE proofs build their views from derived
	// values only, each name set once (addDerived), taking no other
	// claim of the token.
	Claims map[string]string
}

// identityFrom fills the common fields of an Identity from a verified token.
func identityFrom(proof string, t *JWT, claims map[string]string) *Identity {
	return &Identity{
		Proof:    proof,
		Workload: Workload{Issuer: t.Issuer, Subject: t.Subject},
		Audience: t.Audience,
		IssuedAt: t.IssuedAt,
		Expiry:   t.Expiry,
		TokenID:  t.ID,
		Claims:   claims,
	}
}

// maxFlattenDepth bounds how deep nested objects are flattened.
const maxFlattenDepth = 4

// errAmbiguousClaims refuses a token whose flat claim view would depend
// on which of two claims was read last. It names no claim and no value.
func errAmbiguousClaims() error {
	return refuse(CodeInvalidGrant, ReasonClaims,
		"token claims are ambiguous: a claim name is empty, or two claims flatten to the same name", nil)
}

// flattenClaims returns the scalar claims of a token, nested objects
// flattened with "." up to maxFlattenDepth levels (deeper objects and
// arrays are left out).
//
// The flat view is a function of the token, never of map iteration
// order: a token in which any claim name at a flattened level is empty,
// or in which two distinct paths flatten to the same name (a literal
// "org.team" beside {"org": {"team": ...}}, or {"": {"sub": ...}} beside
// "sub"), is refused with invalid_grant (errAmbiguousClaims). A name
// holding "." that collides with nothing is kept as it is.
func flattenClaims(claims map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(claims))
	if err := flattenInto(out, "", claims, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func flattenInto(out map[string]string, prefix string, m map[string]any, depth int) error {
	for k, v := range m {
		if k == "" {
			return errAmbiguousClaims()
		}
		key := k
		if depth > 0 {
			key = prefix + "." + k
		}
		if s, ok := scalarString(v); ok {
			if _, dup := out[key]; dup {
				return errAmbiguousClaims()
			}
			out[key] = s
			continue
		}
		if sub, ok := v.(map[string]any); ok && depth+1 < maxFlattenDepth {
			if err := flattenInto(out, key, sub, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDerived adds the claims a proof derives from a token (Kubernetes
// "namespace", SPIFFE "trust_domain"...) to its flat view. A derived
// name that is already present is refused (errAmbiguousClaims), never
// overwritten nor kept silently: neither a token claim nor an earlier
// derived value may stand in for another.
func addDerived(claims map[string]string, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if _, dup := claims[kv[i]]; dup || kv[i] == "" {
			return errAmbiguousClaims()
		}
		claims[kv[i]] = kv[i+1]
	}
	return nil
}

// scalarString renders a JSON scalar as a string.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// topLevelStrings returns the scalar top-level claims. A token with an
// empty claim name is refused (errAmbiguousClaims), as by flattenClaims.
func topLevelStrings(claims map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		if k == "" {
			return nil, errAmbiguousClaims()
		}
		if s, ok := scalarString(v); ok {
			out[k] = s
		}
	}
	return out, nil
}

// truncate bounds attacker-controlled strings written to logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
