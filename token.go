package aicred

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Token classes. A workload token is what a workload presents to the
// gateway; an admin token protects the admin API.
const (
	TokenWorkload = "workload"
	TokenAdmin    = "admin"
)

// A Grant is what an issued token stands for: who it was issued to, the
// role and trust policy that allowed it, the scope it carries and its
// lifetime. The token itself is never stored: only TokenHash, the hex
// SHA-256 of the token string, which the gateway looks up.
type Grant struct {
	// ID names the grant in listings, audit records and revocations
	// ("tok_" + hex). It is not secret and cannot be used to authenticate.
	ID        string `json:"id"`
	TokenHash string `json:"-"`
	Class     string `json:"class"` // TokenWorkload or TokenAdmin

	// Issuer and Subject identify the workload (for an admin token, who
	// created it); Policy is the trust policy that matched, Role the role.
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Policy  string `json:"policy,omitempty"`
	Role    string `json:"role,omitempty"`

	// Scope is the narrowed scope the token carries: operations, models
	// and, for admin tokens, "read" or "write".
	Scope       []string `json:"scope,omitempty"`
	Audience    string   `json:"audience,omitempty"`
	Environment string   `json:"environment,omitempty"`
	// Credentials are the ids of the held credentials the token may use.
	Credentials []string `json:"credentials,omitempty"`

	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt is set once a revocation matched the grant.
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// Active reports whether the grant may be used at now.
func (g *Grant) Active(now time.Time) bool {
	return g.RevokedAt.IsZero() && now.Before(g.ExpiresAt)
}

// What a revocation matches.
const (
	RevokeToken      = "token"      // Value: a grant id
	RevokeWorkload   = "workload"   // Value: issuer + " " + subject
	RevokeRole       = "role"       // Value: a role name
	RevokePolicy     = "policy"     // Value: a trust policy name
	RevokeCredential = "credential" // Value: a held credential id
)

// A Revocation withdraws every grant it matches. Revocations are kept in
// order (Seq) so that every aicred process sharing a store can apply the
// ones it has not seen yet.
type Revocation struct {
	Seq    int64     `json:"seq"`
	By     string    `json:"by"`
	Value  string    `json:"value"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Grants is how many active grants the revocation matched when made.
	Grants int `json:"grants"`
}

// Matches reports whether the revocation applies to g.
func (r *Revocation) Matches(g *Grant) bool {
	switch r.By {
	case RevokeToken:
		return g.ID == r.Value
	case RevokeWorkload:
		return g.Issuer+" "+g.Subject == r.Value
	case RevokeRole:
		return g.Role == r.Value
	case RevokePolicy:
		return g.Policy == r.Value
	case RevokeCredential:
		for _, c := range g.Credentials {
			if c == r.Value {
				return true
			}
		}
	}
	return false
}

// TokenFilter selects grants; zero fields match everything.
type TokenFilter struct {
	Class          string
	Role           string
	Issuer         string
	Subject        string
	IncludeExpired bool // expired and revoked grants are left out unless set
	Limit          int
}

// TokenService keeps issued grants and revocations.
type TokenService interface {
	// IssueGrant stores a new grant. Audit: token.issued (grant id,
	// class, workload, role, policy, expiry; never the token).
	// Errors: ErrInvalid, ErrConflict (id or hash exists).
	IssueGrant(ctx context.Context, g *Grant) error

	// LookupGrant returns the grant whose token hashes to tokenHash,
	// revoked or expired ones included (callers check Active).
	// Errors: ErrNotFound.
	LookupGrant(ctx context.Context, tokenHash string) (*Grant, error)

	// ListGrants returns the grants matching f, newest first.
	ListGrants(ctx context.Context, f TokenFilter) ([]Grant, error)

	// Revoke marks every active grant r matches as revoked, appends r to
	// the revocation log (setting Seq, At and Grants) and tells every
	// process watching the store. Audit: token.revoked.
	// Errors: ErrInvalid (unknown By, empty Value).
	Revoke(ctx context.Context, r *Revocation) error

	// RevocationsSince returns the revocations with Seq > seq, in order.
	RevocationsSince(ctx context.Context, seq int64) ([]Revocation, error)

	// WatchRevocations calls fn with each revocation made by any process
	// sharing the store, from the moment it returns until ctx ends, in
	// order and each once. SQLite delivers within the process (and polls
	// the file for other processes); PostgreSQL uses LISTEN/NOTIFY, with a
	// poll as a safety net. fn must not block for long.
	WatchRevocations(ctx context.Context, fn func(Revocation)) error
}

// Audit actions of the token service.
const (
	ActionTokenIssued  = "token.issued"
	ActionTokenRevoked = "token.revoked"
)

// HashToken returns the form in which a token is stored and looked up:
// the lower-case hex SHA-256 of the token string.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
