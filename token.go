package aicred

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode"
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

// Prepare cleans g's text, fills IssuedAt with now when unset and checks
// g before it is stored. TokenHash must be what HashToken returns, so a
// token passed where its hash belongs is refused rather than stored. The
// issuer may hold no white space, so that a workload revocation's value
// ("issuer subject") names exactly one issuer. Errors are ErrInvalid and
// never quote the token hash.
func (g *Grant) Prepare(now time.Time) error {
	for _, p := range []*string{&g.Class, &g.Issuer, &g.Subject, &g.Policy, &g.Role, &g.Audience, &g.Environment, &g.RevokeReason} {
		*p = StorableText(*p)
	}
	// Copies: a role's lists are often shared by every grant it makes.
	for _, set := range []*[]string{&g.Scope, &g.Credentials} {
		*set = slices.Clone(*set)
		for i, v := range *set {
			(*set)[i] = StorableText(v)
		}
	}
	if !validID(g.ID) {
		return Errorf(ErrInvalid, "grant: the id must be 1-64 letters, digits, '-' or '_'")
	}
	switch {
	case !validTokenHash(g.TokenHash):
		return Errorf(ErrInvalid, "grant %s: the token hash must be 64 lower-case hex digits (HashToken)", g.ID)
	case g.Class != TokenWorkload && g.Class != TokenAdmin:
		return Errorf(ErrInvalid, "grant %s: class %q is neither %q nor %q", g.ID, g.Class, TokenWorkload, TokenAdmin)
	case g.Issuer == "" || g.Subject == "":
		return Errorf(ErrInvalid, "grant %s: issuer and subject are required", g.ID)
	case strings.ContainsFunc(g.Issuer, unicode.IsSpace):
		return Errorf(ErrInvalid, "grant %s: issuer %q holds white space", g.ID, g.Issuer)
	case g.ExpiresAt.IsZero():
		return Errorf(ErrInvalid, "grant %s: expiry is required", g.ID)
	case !g.RevokedAt.IsZero() || g.RevokeReason != "":
		return Errorf(ErrInvalid, "grant %s: a new grant cannot be revoked", g.ID)
	}
	for _, set := range []struct {
		name string
		v    []string
	}{{"scope", g.Scope}, {"credentials", g.Credentials}} {
		for _, v := range set.v {
			if strings.TrimSpace(v) == "" {
				return Errorf(ErrInvalid, "grant %s: empty name in %s", g.ID, set.name)
			}
		}
	}
	if g.IssuedAt.IsZero() {
		g.IssuedAt = now
	}
	g.IssuedAt, g.ExpiresAt = StoreTime(g.IssuedAt), StoreTime(g.ExpiresAt)
	if !g.ExpiresAt.After(g.IssuedAt) {
		return Errorf(ErrInvalid, "grant %s: expires at or before it is issued", g.ID)
	}
	return nil
}

func validTokenHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// What a revocation matches.
const (
	RevokeToken      = "token"      // Value: a grant id
	RevokeWorkload   = "workload"   // Value: issuer + " " + subject
	RevokeRole       = "role"       // Value: a role name
	RevokePolicy     = "policy"     // Value: a trust policy name
	RevokeCredential = "credential" // Value: a held credential id
	// RevokeHeldKey revokes no grant: it tells every process sharing the
	// store that the held credential (Value: its id) changed its secret
	// (a rotation, a replacement), so a gateway drops the decrypted key it
	// cached and reads the held credential again.
	RevokeHeldKey = "held-key"
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
	// Hold is, for a revocation by workload, how long the workload is
	// kept from exchanging for new tokens (a WorkloadHold set in the same
	// transaction): zero means DefaultWorkloadHold, NoHold none. Other
	// revocations hold nothing and ignore it. It is not kept in the
	// revocation log (the hold is, in its own table), nor in JSON (the
	// admin API takes it as a duration string).
	Hold time.Duration `json:"-"`
}

// Prepare cleans r's text and checks what it matches; the store sets Seq,
// At and Grants. Errors are ErrInvalid.
func (r *Revocation) Prepare() error {
	r.By, r.Value, r.Reason = StorableText(r.By), StorableText(r.Value), StorableText(r.Reason)
	switch r.By {
	case RevokeToken, RevokeRole, RevokePolicy, RevokeCredential, RevokeHeldKey:
	case RevokeWorkload:
		if _, _, ok := r.Workload(); !ok {
			return Errorf(ErrInvalid, "revoke by workload: the value must be 'ISSUER SUBJECT'")
		}
		if r.Hold != NoHold && (r.Hold < 0 || r.Hold > MaxWorkloadHold) {
			return Errorf(ErrInvalid, "revoke by workload: hold %v is out of range (0 < hold <= %v, or NoHold)", r.Hold, MaxWorkloadHold)
		}
	default:
		return Errorf(ErrInvalid, "revoke: by %q is not one of token, workload, role, policy, credential, held-key", r.By)
	}
	switch {
	case strings.TrimSpace(r.Value) == "":
		return Errorf(ErrInvalid, "revoke by %s: a value is required", r.By)
	case looksLikeToken(r.Value) || validTokenHash(r.Value):
		// Revocations and their audit records are kept for good: a token
		// pasted where its grant id belongs must not be.
		return Errorf(ErrInvalid, "revoke by %s: the value looks like a token or a token hash; revoke a token by its grant id", r.By)
	}
	return nil
}

// looksLikeToken reports whether s starts like an aicred token (the
// prefixes are provider.TokenPrefixWorkload and provider.TokenPrefixAdmin,
// which import this package; storetest checks the two agree).
func looksLikeToken(s string) bool {
	return strings.HasPrefix(s, "aicw_") || strings.HasPrefix(s, "aica_")
}

// Workload splits the value of a workload revocation at its first space
// into issuer and subject (issuers hold no white space; subjects may).
func (r *Revocation) Workload() (issuer, subject string, ok bool) {
	issuer, subject, ok = strings.Cut(r.Value, " ")
	return issuer, subject, ok && issuer != "" && subject != ""
}

// Matches reports whether the revocation applies to g (a RevokeHeldKey
// revocation applies to none).
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
	ID      string // one grant by id
	Class   string
	Role    string
	Issuer  string
	Subject string
	// Credential selects the grants whose Credentials include this held
	// credential id (what a revocation by credential matches).
	Credential     string
	IncludeExpired bool // expired and revoked grants are left out unless set
	Limit          int
}

// TokenService keeps issued grants and revocations.
type TokenService interface {
	// IssueGrant stores a new grant. Audit: token.issued (grant id,
	// class, workload, role, policy, expiry; never the token).
	// Errors: ErrInvalid, ErrConflict (id or hash exists),
	// ErrUnauthorized (a workload grant for a workload under an active
	// WorkloadHold, checked in the same transaction).
	IssueGrant(ctx context.Context, g *Grant) error

	// LookupGrant returns the grant whose token hashes to tokenHash,
	// revoked or expired ones included (callers check Active).
	// Errors: ErrNotFound.
	LookupGrant(ctx context.Context, tokenHash string) (*Grant, error)

	// ListGrants returns the grants matching f, newest first (by
	// IssuedAt, then id).
	// Errors: ErrInvalid (a negative limit).
	ListGrants(ctx context.Context, f TokenFilter) ([]Grant, error)

	// Revoke marks every active grant r matches as revoked, appends r to
	// the revocation log (setting Seq, At and Grants) and tells every
	// process watching the store. A revocation that matches nothing is
	// still recorded, with Grants 0. Audit: token.revoked (never a token
	// or its hash). A revocation by workload also holds the workload
	// (Revocation.Hold, by HoldWorkload's rules) in the same transaction,
	// audit workload.held; revocations by token, role, policy or
	// credential hold nothing.
	// Errors: ErrInvalid (unknown By, empty Value, a workload value that
	// is not "ISSUER SUBJECT", a hold out of range).
	Revoke(ctx context.Context, r *Revocation) error

	// RevocationsSince returns the revocations with Seq > seq, in order.
	RevocationsSince(ctx context.Context, seq int64) ([]Revocation, error)

	// WatchRevocations calls fn with each revocation made by any process
	// sharing the store, from the moment it returns until ctx ends, in
	// order and each once. SQLite delivers within the process (and polls
	// the file for other processes); PostgreSQL uses LISTEN/NOTIFY, with a
	// poll as a safety net. fn runs on a goroutine of the store's, one
	// call at a time; it must not block for long nor close the store.
	// Errors: ErrUnavailable (the database cannot be reached, or the store
	// is closed); once it has returned nil, connection trouble is retried
	// quietly and the revocations missed meanwhile are delivered after.
	WatchRevocations(ctx context.Context, fn func(Revocation)) error

	WorkloadHoldService
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
