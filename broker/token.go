package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// A TokenStore keeps issued tokens, by hash, with their grants. It is the
// part of aicred.TokenService the exchange and the token check need, so
// the sqlite and postgres stores satisfy it as they are; MemoryTokenStore
// serves one process and tests.
type TokenStore interface {
	// IssueGrant stores a new grant (aicred.Grant.Prepare rules).
	// Errors: ErrInvalid, ErrConflict (id or hash exists), ErrUnavailable.
	IssueGrant(ctx context.Context, g *aicred.Grant) error
	// LookupGrant returns the grant whose token hashes to tokenHash
	// (aicred.HashToken), revoked or expired ones included: callers check
	// Active. Errors: ErrNotFound, ErrUnavailable.
	LookupGrant(ctx context.Context, tokenHash string) (*aicred.Grant, error)
	// Revoke marks every active grant r matches as revoked and sets r's
	// Seq, At and Grants. Lookups see it as soon as Revoke returns.
	// Errors: ErrInvalid (aicred.Revocation.Prepare rules), ErrUnavailable.
	Revoke(ctx context.Context, r *aicred.Revocation) error
}

// MemoryTokenStore is a TokenStore for one process and for tests. Grants
// are immutable once stored: a revocation replaces the stored grant by a
// revoked copy, so a lookup is one read-locked map access. Expired grants
// are forgotten in sweeps amortised over IssueGrant.
type MemoryTokenStore struct {
	now func() time.Time

	mu        sync.RWMutex
	byHash    map[string]*aicred.Grant
	ids       map[string]string // grant id -> token hash
	holds     map[string]aicred.WorkloadHold
	seq       int64
	lastSweep time.Time
}

// tokenSweepEvery is how often IssueGrant forgets expired grants.
const tokenSweepEvery = time.Minute

// NewMemoryTokenStore returns an empty store; clock nil means time.Now.
func NewMemoryTokenStore(clock func() time.Time) *MemoryTokenStore {
	if clock == nil {
		clock = time.Now
	}
	return &MemoryTokenStore{now: clock, byHash: make(map[string]*aicred.Grant), ids: make(map[string]string),
		holds: make(map[string]aicred.WorkloadHold)}
}

// IssueGrant implements TokenStore. The stored grant is a prepared copy.
func (s *MemoryTokenStore) IssueGrant(_ context.Context, g *aicred.Grant) error {
	if g == nil {
		return aicred.Errorf(aicred.ErrInvalid, "grant: nil")
	}
	now := s.now()
	c := *g
	if err := c.Prepare(now); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= tokenSweepEvery {
		for h, e := range s.byHash {
			if !now.Before(e.ExpiresAt) {
				delete(s.byHash, h)
				delete(s.ids, e.ID)
			}
		}
		s.lastSweep = now
	}
	if h, ok := s.holds[c.Issuer+" "+c.Subject]; ok && c.Class == aicred.TokenWorkload && h.Active(now) {
		return aicred.Errorf(aicred.ErrUnauthorized, "grant %s: the workload is held from new tokens", c.ID)
	}
	if _, ok := s.ids[c.ID]; ok {
		return aicred.Errorf(aicred.ErrConflict, "grant %s: exists", c.ID)
	}
	if _, ok := s.byHash[c.TokenHash]; ok {
		return aicred.Errorf(aicred.ErrConflict, "grant %s: token hash exists", c.ID)
	}
	s.byHash[c.TokenHash] = &c
	s.ids[c.ID] = c.TokenHash
	g.IssuedAt, g.ExpiresAt = c.IssuedAt, c.ExpiresAt
	return nil
}

// LookupGrant implements TokenStore. The grant returned is shared: the
// caller must not modify it.
func (s *MemoryTokenStore) LookupGrant(_ context.Context, tokenHash string) (*aicred.Grant, error) {
	s.mu.RLock()
	g, ok := s.byHash[tokenHash]
	s.mu.RUnlock()
	if !ok {
		return nil, aicred.Errorf(aicred.ErrNotFound, "token: unknown")
	}
	return g, nil
}

// Revoke implements TokenStore. A revocation by workload also holds the
// workload (aicred.TokenService.Revoke).
func (s *MemoryTokenStore) Revoke(_ context.Context, r *aicred.Revocation) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	now := s.now()
	hold, err := r.HoldFor(now)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hold != nil {
		if old, ok := s.holds[hold.Workload]; ok && old.Until.After(hold.Until) {
			hold.Until = old.Until
		}
		hold.CreatedAt = aicred.StoreTime(now)
		s.holds[hold.Workload] = *hold
	}
	revoke := func(h string, g *aicred.Grant) {
		if g.Active(now) && r.Matches(g) {
			c := *g
			c.RevokedAt, c.RevokeReason = aicred.StoreTime(now), r.Reason
			s.byHash[h] = &c
			r.Grants++
		}
	}
	r.Grants = 0
	if r.By == aicred.RevokeToken {
		if h, ok := s.ids[r.Value]; ok {
			revoke(h, s.byHash[h])
		}
	} else {
		for h, g := range s.byHash {
			revoke(h, g)
		}
	}
	s.seq++
	r.Seq, r.At = s.seq, aicred.StoreTime(now)
	return nil
}

// WorkloadHold implements Holds. Errors: ErrNotFound.
func (s *MemoryTokenStore) WorkloadHold(_ context.Context, workload string) (*aicred.WorkloadHold, error) {
	now := s.now()
	s.mu.RLock()
	h, ok := s.holds[workload]
	s.mu.RUnlock()
	if !ok || !h.Active(now) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "no active hold on that workload")
	}
	return &h, nil
}

// LiftWorkloadHold ends a hold at once. Errors: ErrNotFound.
func (s *MemoryTokenStore) LiftWorkloadHold(_ context.Context, workload, _ string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.holds[workload]; !ok || !h.Active(now) {
		return aicred.Errorf(aicred.ErrNotFound, "no active hold on that workload")
	}
	delete(s.holds, workload)
	return nil
}

// Len returns the number of grants held, expired ones included until the
// next sweep.
func (s *MemoryTokenStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byHash)
}

// ValidateToken is the gateway's check of a presented aicred workload
// token: shape and checksum first (garbage never reaches the store), then
// the grant by hash, then class, revocation and expiry.
// Errors: ErrUnauthorized (malformed, unknown, an admin token, revoked or
// expired; the message names the grant id at most, never the token),
// ErrUnavailable.
func ValidateToken(ctx context.Context, s TokenStore, token string, now time.Time) (*aicred.Grant, error) {
	if !strings.HasPrefix(token, provider.TokenPrefixWorkload) || !provider.ValidToken(token) {
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "not an aicred workload token")
	}
	g, err := s.LookupGrant(ctx, aicred.HashToken(token))
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrNotFound {
			return nil, aicred.Errorf(aicred.ErrUnauthorized, "token: unknown")
		}
		return nil, err
	}
	switch {
	case g.Class != aicred.TokenWorkload:
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "token %s: not a workload token", g.ID)
	case !g.RevokedAt.IsZero():
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "token %s: revoked", g.ID)
	case !now.Before(g.ExpiresAt):
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "token %s: expired", g.ID)
	}
	return g, nil
}

// RevokeToken revokes the grant of a presented token (a leaked one, say):
// the token is hashed, its grant found and revoked by id, so neither the
// token nor its hash enters the revocation log.
// Errors: ErrNotFound (no grant for this token), ErrUnavailable.
func RevokeToken(ctx context.Context, s TokenStore, token, reason string) (*aicred.Revocation, error) {
	g, err := s.LookupGrant(ctx, aicred.HashToken(token))
	if err != nil {
		return nil, err
	}
	r := &aicred.Revocation{By: aicred.RevokeToken, Value: g.ID, Reason: reason}
	if err := s.Revoke(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// newGrantID returns a random grant id, "tok_" and 24 hex digits (the
// form the CLI uses for admin tokens).
func newGrantID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
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
