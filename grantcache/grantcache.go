// Package grantcache keeps issued grants in memory in front of the store,
// so that authenticating a token on the hot path is a map read, and keeps
// them revocation-aware: the store pushes every revocation, made by this
// process or any other sharing the store, into the cache.
package grantcache

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// Cache is an aicred.TokenService front: reads are served from memory,
// writes go to the store first. It is safe for concurrent use.
type Cache struct {
	store aicred.TokenService
	log   *slog.Logger
	now   func() time.Time

	mu     sync.RWMutex
	grants map[string]*aicred.Grant // by token hash; never mutated once stored
	// revs are the revocations applied since Start, in order, so that a
	// grant fetched from the store while a revocation was in flight is
	// checked against it before it is cached.
	revs []aicred.Revocation
	seq  int64 // highest revocation applied
}

// New returns a cache over store. Call Start before serving.
func New(store aicred.TokenService, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{store: store, log: log, now: time.Now, grants: map[string]*aicred.Grant{}}
}

// Start subscribes to the store's revocations until ctx ends and sweeps
// expired grants from memory once a minute.
func (c *Cache) Start(ctx context.Context) error {
	if err := c.store.WatchRevocations(ctx, c.apply); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.sweep()
			}
		}
	}()
	return nil
}

// IssueGrant stores g and caches it.
func (c *Cache) IssueGrant(ctx context.Context, g *aicred.Grant) error {
	if err := c.store.IssueGrant(ctx, g); err != nil {
		return err
	}
	cp := *g
	c.mu.Lock()
	c.grants[g.TokenHash] = &cp
	c.mu.Unlock()
	return nil
}

// LookupGrant answers from memory, else from the store (and remembers the
// answer). The returned grant must not be modified.
func (c *Cache) LookupGrant(ctx context.Context, tokenHash string) (*aicred.Grant, error) {
	c.mu.RLock()
	g, ok := c.grants[tokenHash]
	seq := c.seq
	c.mu.RUnlock()
	if ok {
		return g, nil
	}
	g, err := c.store.LookupGrant(ctx, tokenHash)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Revocations applied while the store was being asked may postdate
	// what it answered.
	for i := len(c.revs) - 1; i >= 0 && c.revs[i].Seq > seq; i-- {
		if r := c.revs[i]; g.RevokedAt.IsZero() && r.Matches(g) {
			g = revoked(g, r)
		}
	}
	if prev, ok := c.grants[tokenHash]; ok {
		return prev, nil
	}
	if c.now().Before(g.ExpiresAt) {
		c.grants[tokenHash] = g
	}
	return g, nil
}

// ListGrants asks the store.
func (c *Cache) ListGrants(ctx context.Context, f aicred.TokenFilter) ([]aicred.Grant, error) {
	return c.store.ListGrants(ctx, f)
}

// Revoke revokes in the store and applies the revocation here at once,
// before the store's notification comes back.
func (c *Cache) Revoke(ctx context.Context, r *aicred.Revocation) error {
	if err := c.store.Revoke(ctx, r); err != nil {
		return err
	}
	c.apply(*r)
	return nil
}

// RevocationsSince asks the store.
func (c *Cache) RevocationsSince(ctx context.Context, seq int64) ([]aicred.Revocation, error) {
	return c.store.RevocationsSince(ctx, seq)
}

// WatchRevocations passes through to the store.
func (c *Cache) WatchRevocations(ctx context.Context, fn func(aicred.Revocation)) error {
	return c.store.WatchRevocations(ctx, fn)
}

// apply marks every cached grant r matches as revoked. Applying the same
// revocation twice (here and from the store's watch) is harmless.
func (c *Cache) apply(r aicred.Revocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Seq != 0 && r.Seq <= c.seq && c.applied(r.Seq) {
		return
	}
	n := 0
	for h, g := range c.grants {
		if g.RevokedAt.IsZero() && r.Matches(g) {
			c.grants[h] = revoked(g, r)
			n++
		}
	}
	c.revs = append(c.revs, r)
	if len(c.revs) > 4096 { // only in-flight lookups need old ones
		c.revs = append([]aicred.Revocation(nil), c.revs[len(c.revs)-1024:]...)
	}
	c.seq = max(c.seq, r.Seq)
	c.log.Info("revocation applied", "seq", r.Seq, "by", r.By, "cached_grants_revoked", n)
}

func (c *Cache) applied(seq int64) bool {
	for i := len(c.revs) - 1; i >= 0; i-- {
		if c.revs[i].Seq == seq {
			return true
		}
		if c.revs[i].Seq < seq {
			break
		}
	}
	return false
}

func revoked(g *aicred.Grant, r aicred.Revocation) *aicred.Grant {
	cp := *g
	cp.RevokedAt = r.At
	if cp.RevokedAt.IsZero() {
		cp.RevokedAt = time.Now()
	}
	cp.RevokeReason = r.Reason
	return &cp
}

func (c *Cache) sweep() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, g := range c.grants {
		if !now.Before(g.ExpiresAt) {
			delete(c.grants, h)
		}
	}
}

// Len returns how many grants are cached.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.grants)
}
