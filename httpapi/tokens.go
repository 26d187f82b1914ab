package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
)

// ActionTokenCreated is the audit record of a token an administrator
// issued by hand, naming who (the record's actor), the role, the workload
// name and the lifetime. The store's token.issued record of the same
// grant precedes it.
const ActionTokenCreated = "token.created"

// ManualStore is what issuing a token by hand needs from the store.
type ManualStore interface {
	IssueGrant(ctx context.Context, g *aicred.Grant) error
	Revoke(ctx context.Context, r *aicred.Revocation) error
	AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error)
}

// IssuedToken is a token issued by hand. Token is shown once and never
// stored; the rest is its grant.
type IssuedToken struct {
	Token     string    `json:"token"`
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Issuer    string    `json:"issuer"`
	Workload  string    `json:"workload"`
	Scope     []string  `json:"scope"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// maxWorkloadName bounds a hand-issued token's workload name.
const maxWorkloadName = 128

// checkWorkloadName accepts 1-128 letters, digits and . _ - @ : / +, so the
// name reads the same in listings, revocations ("aicred:manual NAME") and
// audit records.
func checkWorkloadName(name string) error {
	if name == "" || len(name) > maxWorkloadName {
		return aicred.Errorf(aicred.ErrInvalid, "workload: want a name of 1-%d characters", maxWorkloadName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@:/+", c)) {
			return aicred.Errorf(aicred.ErrInvalid, "workload %q: only letters, digits and . _ - @ : / + are allowed", name)
		}
	}
	return nil
}

// IssueManualToken issues a short-lived workload token for role to the
// workload named workload, with no identity proof: the caller has
// authenticated an administrator (write scope, or the store itself) and
// ctx names them (aicred.WithActor). The grant's issuer is
// broker.ManualIssuer and its subject the workload name, so the posture
// report tells these tokens from exchanged ones and 'aicred token revoke
// --workload "aicred:manual NAME"' withdraws them. ttl zero takes the
// role's; it must lie between broker.MinTTL and the role's ttl (at most
// broker.MaxTTL). The grant (audit token.issued) and then token.created
// are recorded; if the second cannot be, the token is revoked and never
// returned. Errors: ErrInvalid, ErrUnauthorized (the workload is held),
// ErrUnavailable.
func IssueManualToken(ctx context.Context, st ManualStore, role *broker.Role, workload string, ttl time.Duration, now time.Time) (*IssuedToken, error) {
	if role == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "role: unknown")
	}
	if err := checkWorkloadName(workload); err != nil {
		return nil, err
	}
	if ttl == 0 {
		ttl = role.TTL
	}
	if ttl < broker.MinTTL || ttl > role.TTL || ttl > broker.MaxTTL {
		return nil, aicred.Errorf(aicred.ErrInvalid, "ttl %s: role %q issues tokens of %s to %s", ttl, role.Name, broker.MinTTL, min(role.TTL, broker.MaxTTL))
	}
	scope, err := role.Narrow("", nil, nil)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "role %q: %v", role.Name, err)
	}
	tok := newWorkloadToken()
	g := &aicred.Grant{
		ID: newGrantID(), TokenHash: aicred.HashToken(tok), Class: aicred.TokenWorkload,
		Issuer: broker.ManualIssuer, Subject: workload, Role: role.Name,
		Scope: scope.Values(), Audience: strings.Join(append(slices.Clone(scope.Audiences), scope.Resources...), " "),
		Environment: role.Environment, Credentials: slices.Clone(role.Credentials),
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := st.IssueGrant(ctx, g); err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	_, err = st.AppendAudit(ctx, aicred.AuditEvent{
		Action: ActionTokenCreated, Subject: g.ID,
		Data: map[string]string{
			"issued_by": aicred.ActorFrom(ctx), "role": g.Role, "workload": broker.ManualIssuer + " " + workload,
			"ttl": ttl.String(), "expires_at": g.ExpiresAt.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		// A hand-issued token nobody can trace back to its issuer is not
		// handed out.
		r := &aicred.Revocation{By: aicred.RevokeToken, Value: g.ID, Reason: "token.created could not be recorded"}
		if rerr := st.Revoke(ctx, r); rerr != nil {
			return nil, fmt.Errorf("record token.created: %w (and revoking %s failed: %v)", err, g.ID, rerr)
		}
		return nil, fmt.Errorf("record token.created: %w (token %s revoked)", err, g.ID)
	}
	return &IssuedToken{
		Token: tok, ID: g.ID, Role: g.Role, Issuer: g.Issuer, Workload: workload, Scope: g.Scope,
		IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt,
	}, nil
}

// createTokenRequest is the body of POST /admin/v1/tokens.
type createTokenRequest struct {
	Role     string `json:"role"`
	Workload string `json:"workload"`
	// TTL is a Go duration ("30m"); empty takes the role's.
	TTL string `json:"ttl,omitempty"`
}

// createToken serves POST /admin/v1/tokens (write scope): a token issued
// by hand, shown once in the answer.
func (a *Admin) createToken(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	var req createTokenRequest
	if err := decodeBody(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			adminError(w, http.StatusBadRequest, fmt.Sprintf("ttl %q: want a positive duration such as 30m", req.TTL))
			return
		}
		ttl = d
	}
	if a.Role == nil {
		adminError(w, http.StatusNotFound, "this server has no roles")
		return
	}
	role, ok := a.Role(req.Role)
	if !ok {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("role %q: not in this server's configuration", req.Role))
		return
	}
	it, err := IssueManualToken(r.Context(), a.Store, role, req.Workload, ttl, a.now())
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrUnauthorized {
			adminError(w, http.StatusConflict, "the workload is held from new tokens")
			return
		}
		a.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, it)
}

// newWorkloadToken mints an aicw_ token: provider.TokenRandomLen base62
// characters from crypto/rand (rejection sampling, no modulo bias) and the
// checksum, as the exchange mints them.
func newWorkloadToken() string {
	const base62 = provider.Digits + provider.Upper + provider.Lower
	out := make([]byte, 0, provider.TokenRandomLen)
	var buf [64]byte
	for len(out) < provider.TokenRandomLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would bias the draw.
			if b < 248 && len(out) < provider.TokenRandomLen {
				out = append(out, base62[b%62])
			}
		}
	}
	return provider.FormatToken(provider.TokenPrefixWorkload, string(out))
}

// newGrantID returns "tok_" and 24 random hex digits.
func newGrantID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}
