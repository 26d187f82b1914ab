package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// A TokenHash is the SHA-256 of an issued token: the only form in which a
// token is kept. A token has 178 bits of randomness, so a plain hash (no
// salt, no slow KDF) is enough and keeps lookups fast.
type TokenHash [32]byte

// HashToken returns the hash under which a token is stored.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// String returns the hash in hex.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// ID returns the short public name of a token: the first 16 hex digits of
// its hash, safe to log, list and show.
func (h TokenHash) ID() string { return hex.EncodeToString(h[:8]) }

// A Grant is what an issued token stands for: who it was issued to, under
// which policy and role, with which scope, until when. A Grant is
// immutable once recorded.
type Grant struct {
	TokenHash TokenHash `json:"-"`
	// ID is TokenHash.ID(), the token's public name.
	ID       string   `json:"id"`
	Workload Workload `json:"workload"`
	Proof    string   `json:"proof"`
	Policy   string   `json:"policy"`
	Role     string   `json:"role"`
	// Credentials are the held upstream credentials the role uses.
	Credentials []string   `json:"credentials"`
	Scope       Scope      `json:"scope"`
	Environment string     `json:"environment,omitempty"`
	Budget      Budget     `json:"budget,omitzero"`
	Rate        RateLimits `json:"rate,omitzero"`
	IssuedAt    time.Time  `json:"issued_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
}

// A RevokeFilter selects issued tokens to revoke. Set fields are ANDed;
// at least one must be set.
type RevokeFilter struct {
	// Token is a token hash (zero means any).
	Token TokenHash
	// Workload revokes the tokens of one issuer + subject (both set).
	Workload Workload
	Role     string
	Policy   string
	// Credential revokes tokens whose role uses this held credential.
	Credential string
}

func (f RevokeFilter) empty() bool {
	return f.Token == (TokenHash{}) && f.Workload == (Workload{}) && f.Role == "" && f.Policy == "" && f.Credential == ""
}

func (f RevokeFilter) match(g *Grant) bool {
	return (f.Token == (TokenHash{}) || f.Token == g.TokenHash) &&
		(f.Workload == (Workload{}) || f.Workload == g.Workload) &&
		(f.Role == "" || f.Role == g.Role) &&
		(f.Policy == "" || f.Policy == g.Policy) &&
		(f.Credential == "" || slices.Contains(g.Credentials, f.Credential))
}

// A TokenStore keeps issued tokens by hash, with their grants.
type TokenStore interface {
	// RecordGrant stores a grant under g.TokenHash.
	// Errors: ErrInvalid (no hash or expiry), ErrConflict (the hash is
	// already stored), ErrUnavailable.
	RecordGrant(ctx context.Context, g *Grant) error
	// LookupGrant returns the grant of a token hash, expired or not
	// (the caller checks ExpiresAt against its clock).
	// Errors: ErrNotFound (unknown or forgotten), ErrUnauthorized
	// (revoked), ErrUnavailable.
	LookupGrant(ctx context.Context, h TokenHash) (*Grant, error)
	// Revoke revokes every unexpired token f selects and returns how
	// many it revoked. Lookups see a revocation as soon as Revoke returns.
	// Errors: ErrInvalid (empty filter, or a workload with only one of
	// issuer and subject), ErrUnavailable.
	Revoke(ctx context.Context, f RevokeFilter) (int, error)
}

// MemoryTokenStore is a TokenStore for one process and for tests; the
// store integration replaces it. Expired grants are forgotten in sweeps
// amortised over RecordGrant.
type MemoryTokenStore struct {
	now func() time.Time

	mu        sync.RWMutex
	grants    map[TokenHash]*memGrant
	lastSweep time.Time
}

type memGrant struct {
	g       *Grant
	revoked bool
}

// tokenSweepEvery is how often RecordGrant forgets expired grants.
const tokenSweepEvery = time.Minute

// NewMemoryTokenStore returns an empty store; clock nil means time.Now.
func NewMemoryTokenStore(clock func() time.Time) *MemoryTokenStore {
	if clock == nil {
		clock = time.Now
	}
	return &MemoryTokenStore{now: clock, grants: make(map[TokenHash]*memGrant)}
}

// RecordGrant implements TokenStore.
func (s *MemoryTokenStore) RecordGrant(_ context.Context, g *Grant) error {
	if g == nil || g.TokenHash == (TokenHash{}) || g.ExpiresAt.IsZero() {
		return aicred.Errorf(aicred.ErrInvalid, "record grant: no token hash or expiry")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= tokenSweepEvery {
		for h, e := range s.grants {
			if !now.Before(e.g.ExpiresAt) {
				delete(s.grants, h)
			}
		}
		s.lastSweep = now
	}
	if _, ok := s.grants[g.TokenHash]; ok {
		return aicred.Errorf(aicred.ErrConflict, "record grant %s: already recorded", g.TokenHash.ID())
	}
	s.grants[g.TokenHash] = &memGrant{g: g}
	return nil
}

// LookupGrant implements TokenStore.
func (s *MemoryTokenStore) LookupGrant(_ context.Context, h TokenHash) (*Grant, error) {
	s.mu.RLock()
	e, ok := s.grants[h]
	var revoked bool
	if ok {
		revoked = e.revoked
	}
	s.mu.RUnlock()
	switch {
	case !ok:
		return nil, aicred.Errorf(aicred.ErrNotFound, "token %s: unknown", h.ID())
	case revoked:
		return e.g, aicred.Errorf(aicred.ErrUnauthorized, "token %s: revoked", h.ID())
	}
	return e.g, nil
}

// Revoke implements TokenStore.
func (s *MemoryTokenStore) Revoke(_ context.Context, f RevokeFilter) (int, error) {
	if f.empty() {
		return 0, aicred.Errorf(aicred.ErrInvalid, "revoke: empty filter")
	}
	if (f.Workload.Issuer == "") != (f.Workload.Subject == "") {
		return 0, aicred.Errorf(aicred.ErrInvalid, "revoke: a workload needs both issuer and subject")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if f.Token != (TokenHash{}) {
		// One token: no scan.
		if e, ok := s.grants[f.Token]; ok && !e.revoked && now.Before(e.g.ExpiresAt) && f.match(e.g) {
			e.revoked = true
			n++
		}
		return n, nil
	}
	for _, e := range s.grants {
		if !e.revoked && now.Before(e.g.ExpiresAt) && f.match(e.g) {
			e.revoked = true
			n++
		}
	}
	return n, nil
}

// Len returns the number of grants held, expired ones included until the
// next sweep.
func (s *MemoryTokenStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.grants)
}

// ValidateToken is the gateway's check of a presented aicred workload
// token: format and checksum first (no store access for garbage), then
// the grant by hash, then expiry.
// Errors: ErrUnauthorized (malformed, unknown, revoked or expired; the
// message never holds the token), ErrUnavailable.
func ValidateToken(ctx context.Context, s TokenStore, token string, now time.Time) (*Grant, error) {
	if !strings.HasPrefix(token, provider.TokenPrefixWorkload) || !provider.ValidToken(token) {
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "not an aicred workload token")
	}
	h := HashToken(token)
	g, err := s.LookupGrant(ctx, h)
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrNotFound {
			return nil, aicred.Errorf(aicred.ErrUnauthorized, "token %s: unknown", h.ID())
		}
		return nil, err
	}
	if !now.Before(g.ExpiresAt) {
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "token %s: expired", h.ID())
	}
	return g, nil
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// mintToken returns a new workload token: the aicw_ prefix, TokenRandomLen
// base62 characters from crypto/rand (rejection sampling, no modulo bias)
// and the checksum.
func mintToken() string {
	var out [provider.TokenRandomLen]byte
	var buf [64]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would bias the draw.
			if b >= 248 {
				continue
			}
			out[n] = base62[b%62]
			n++
			if n == len(out) {
				break
			}
		}
	}
	return provider.FormatToken(provider.TokenPrefixWorkload, string(out[:]))
}
