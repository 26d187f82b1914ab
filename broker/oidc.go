package broker

import (
	"context"

	"github.com/aicred/aicred"
)

// OIDC is the generic proof: any issuer publishing OpenID Connect
// discovery and a JWKS (GitLab CI, Buildkite, Terraform Cloud, Google,
// an internal IdP). Policies must pin sub.
type OIDC struct {
	name string
	v    *Verifier
}

// NewOIDC returns a generic OIDC proof. cfg.Issuer is required.
// Errors: ErrInvalid.
func NewOIDC(name string, cfg VerifierConfig) (*OIDC, error) {
	if err := checkProofName(name); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: issuer is required", name)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: %w", name, err)
	}
	return &OIDC{name: name, v: v}, nil
}

// Name implements Proof.
func (p *OIDC) Name() string { return p.name }

// Issuer implements Proof.
func (p *OIDC) Issuer() string { return p.v.Issuer() }

// Verify implements Proof. Every scalar claim is offered to policies,
// nested objects flattened with ".".
func (p *OIDC) Verify(ctx context.Context, raw string) (*Identity, error) {
	t, err := p.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if t.Subject == "" {
		return nil, refuse(CodeInvalidGrant, ReasonSubject, "token has no subject (sub)", nil)
	}
	claims, err := flattenClaims(t.Claims)
	if err != nil {
		return nil, err
	}
	return identityFrom(p.name, t, claims), nil
}

// CheckPolicy implements Proof: a sub condition is required.
func (p *OIDC) CheckPolicy(pol *Policy) error {
	return requireSubject(pol, "OIDC", func(lit string, _ bool) bool { return lit != "" })
}

// checkProofName accepts 1-63 lower-case letters, digits, '-' and '_',
// starting with a letter or digit.
func checkProofName(name string) error {
	ok := name != "" && len(name) < 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
	}
	if !ok {
		return aicred.Errorf(aicred.ErrInvalid, "proof name %q: want lower-case letters, digits, '-' and '_'", name)
	}
	return nil
}
