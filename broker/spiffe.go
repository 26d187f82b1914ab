package broker

import (
	"context"
	"strings"

	"github.com/aicred/aicred"
)

// SPIFFE verifies JWT-SVIDs. sub must be a SPIFFE ID in the configured
// trust domain, aud must name this broker, and keys come from the trust
// domain's bundle (NewSPIFFEBundle) or a
// SPIRE OIDC discovery provider (RemoteKeys). JWT-SVIDs need not carry
// iss: without a configured issuer, the trust domain stands in for it.
// Policies match sub (= spiffe_id), trust_domain and path.
//
// SPIFFE verifiers do not track jti, so a short exp is the replay
// defence (SPIRE's default JWT-SVID lifetime is 5 minutes).
type SPIFFE struct {
	name        string
	trustDomain string
	issuer      string
	v           *Verifier
}

// maxSPIFFEIDBytes is the SPIFFE ID length limit of the standard.
const maxSPIFFEIDBytes = 2048

// NewSPIFFE returns a SPIFFE JWT-SVID proof for one trust domain.
// Errors: ErrInvalid.
func NewSPIFFE(name, trustDomain string, cfg VerifierConfig) (*SPIFFE, error) {
	if err := checkProofName(name); err != nil {
		return nil, err
	}
	if !validTrustDomain(trustDomain) {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: trust domain %q: want lower-case letters, digits, '.', '-' and '_'", name, trustDomain)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: %w", name, err)
	}
	iss := cfg.Issuer
	if iss == "" {
		iss = "spiffe://" + trustDomain
	}
	return &SPIFFE{name: name, trustDomain: trustDomain, issuer: iss, v: v}, nil
}

// NewSPIFFEBundle parses a SPIFFE trust bundle (a JWKS whose JWT-SVID
// keys have use "jwt-svid"). Errors: ErrInvalid.
func NewSPIFFEBundle(bundle []byte) (*StaticKeys, error) {
	return NewStaticKeys(bundle, usesSPIFFE())
}

// Name implements Proof.
func (p *SPIFFE) Name() string { return p.name }

// Issuer implements Proof.
func (p *SPIFFE) Issuer() string { return p.issuer }

// Verify implements Proof.
func (p *SPIFFE) Verify(ctx context.Context, raw string) (*Identity, error) {
	t, err := p.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	td, path, ok := parseSPIFFEID(t.Subject)
	if !ok {
		return nil, refuse(CodeInvalidGrant, ReasonSubject, "sub is not a SPIFFE ID of a workload", nil)
	}
	if td != p.trustDomain {
		return nil, refuse(CodeInvalidGrant, ReasonTrustDomain, "SPIFFE ID is outside the trusted trust domain", nil)
	}
	claims := make(map[string]string, 4)
	if err := addDerived(claims, "sub", t.Subject, "spiffe_id", t.Subject, "trust_domain", td, "path", path); err != nil {
		return nil, err
	}
	id := identityFrom(p.name, t, claims)
	id.Issuer = p.issuer
	return id, nil
}

// CheckPolicy implements Proof: sub must pin a workload of the trust
// domain; a glob must fix more than spiffe://TRUST-DOMAIN/.
func (p *SPIFFE) CheckPolicy(pol *Policy) error {
	base := "spiffe://" + p.trustDomain + "/"
	return requireSubject(pol, "SPIFFE", func(lit string, wild bool) bool {
		if !wild {
			td, _, ok := parseSPIFFEID(lit)
			return ok && td == p.trustDomain
		}
		return strings.HasPrefix(lit, base) && len(lit) > len(base)
	})
}

// parseSPIFFEID checks a workload SPIFFE ID (spiffe://TRUST-DOMAIN/PATH)
// per the SPIFFE ID standard and returns its trust domain and path.
func parseSPIFFEID(id string) (trustDomain, path string, ok bool) {
	if len(id) > maxSPIFFEIDBytes {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return "", "", false
	}
	td, p, ok := strings.Cut(rest, "/")
	if !ok || !validTrustDomain(td) || p == "" {
		return "", "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "", false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return "", "", false
			}
		}
	}
	return td, "/" + p, true
}

func validTrustDomain(td string) bool {
	if td == "" || len(td) > 255 {
		return false
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
