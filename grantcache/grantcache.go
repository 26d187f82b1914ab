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
	// synced is when the revocation log was last read successfully. A
	// cache whose feed has gone quiet for longer than maxStale (the store
	// is down or the watch is stuck) stops answering from memory: lookups
	// go to the store, and fail closed with it.
	synced   time.Time
	maxStale time.Duration
	created  time.Time
}

// Defaults for the feed check.
const (
	syncInterval    = time.Second
	defaultMaxStale = 3 * time.Second
	// storeTimeout bounds each read of the store: a store that has gone
	// silent (a black-holed network, not a refused connection) would
	// otherwise hold the feed's reader, and every lookup behind a stale
	// cache, until TCP gives up, minutes later. Bounded, the feed is
	// retried every syncInterval and a lookup fails closed at once.
	storeTimeout = 2 * time.Second
	// writeTimeout bounds a write (a grant, a revocation): a transaction
	// with its audit record takes several round trips.
	writeTimeout = 5 * time.Second
)

// New returns a cache over store. Call Start before serving.
func New(store aicred.TokenService, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{store: store, log: log, now: time.Now, grants: map[string]*aicred.Grant{}, maxStale: defaultMaxStale, created: time.Now()}
}

// Start subscribes to the store's revocations until ctx ends, reads the
// revocation log itself once a second (which proves the feed is current
// and catches anything the watch missed) and sweeps expired grants from
// memory once a minute.
func (c *Cache) Start(ctx context.Context) error {
	if err := c.store.WatchRevocations(ctx, c.apply); err != nil {
		return err
	}
	c.sync(ctx)
	go func() {
		tick := time.NewTicker(syncInterval)
		defer tick.Stop()
		sweep := time.NewTicker(time.Minute)
		defer sweep.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				c.sync(ctx)
			case <-sweep.C:
				c.sweep()
			}
		}
	}()
	return nil
}

// sync reads the revocations after the last one applied; success marks
// the cache current.
func (c *Cache) sync(ctx context.Context) {
	c.mu.RLock()
	seq := c.seq
	c.mu.RUnlock()
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	rs, err := c.store.RevocationsSince(rctx, seq)
	cancel()
	if err != nil {
		c.log.Warn("grant cache: cannot read the revocation log; answering from the store until it can", "err", err)
		return
	}
	for _, r := range rs {
		c.apply(r)
	}
	c.mu.Lock()
	c.synced = c.now()
	c.mu.Unlock()
}

// Synced returns when the revocation log was last read successfully.
func (c *Cache) Synced() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// FeedAge returns how long ago the revocation log was last read
// successfully: the most a revocation made by another process may have
// gone unseen here. Before the first read it is the time since New.
func (c *Cache) FeedAge() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	since := c.synced
	if since.IsZero() {
		since = c.created
	}
	return c.now().Sub(since)
}

// IssueGrant stores g and caches it. A revocation that commits between
// the insert and the caching is applied to the cached copy.
func (c *Cache) IssueGrant(ctx context.Context, g *aicred.Grant) error {
	c.mu.RLock()
	seq := c.seq
	c.mu.RUnlock()
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := c.store.IssueGrant(wctx, g); err != nil {
		return err
	}
	cached := new(aicred.Grant)
	*cached = *g
	c.mu.Lock()
	c.grants[g.TokenHash] = c.catchUp(cached, seq)
	c.mu.Unlock()
	return nil
}

// catchUp applies to g the revocations applied after seq. Callers hold mu.
func (c *Cache) catchUp(g *aicred.Grant, seq int64) *aicred.Grant {
	for i := len(c.revs) - 1; i >= 0 && c.revs[i].Seq > seq; i-- {
		if r := c.revs[i]; g.RevokedAt.IsZero() && r.Matches(g) {
			g = revoked(g, r)
		}
	}
	return g
}

// LookupGrant answers from memory, else from the store (and remembers the
// answer). The returned grant must not be modified.
func (c *Cache) LookupGrant(ctx context.Context, tokenHash string) (*aicred.Grant, error) {
	c.mu.RLock()
	g, ok := c.grants[tokenHash]
	seq := c.seq
	fresh := !c.synced.IsZero() && c.now().Sub(c.synced) <= c.maxStale
	c.mu.RUnlock()
	if ok && fresh {
		return g, nil
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	g, err := c.store.LookupGrant(sctx, tokenHash)
	cancel()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Revocations applied while the store was being asked may postdate
	// what it answered.
	g = c.catchUp(g, seq)
	if prev, ok := c.grants[tokenHash]; ok && !prev.RevokedAt.IsZero() {
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

// HoldWorkload passes through to the store. Holds are never cached: each
// exchange reads the store, so a hold set by any process applies at once.
func (c *Cache) HoldWorkload(ctx context.Context, h *aicred.WorkloadHold) error {
	return c.store.HoldWorkload(ctx, h)
}

// LiftWorkloadHold passes through to the store.
func (c *Cache) LiftWorkloadHold(ctx context.Context, workload, reason string) error {
	return c.store.LiftWorkloadHold(ctx, workload, reason)
}

// WorkloadHold passes through to the store.
func (c *Cache) WorkloadHold(ctx context.Context, workload string) (*aicred.WorkloadHold, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return c.store.WorkloadHold(ctx, workload)
}

// ListWorkloadHolds passes through to the store.
func (c *Cache) ListWorkloadHolds(ctx context.Context) ([]aicred.WorkloadHold, error) {
	return c.store.ListWorkloadHolds(ctx)
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
	if r.By == aicred.RevokeHeldKey {
		// A held credential changed secret: no grant is withdrawn (the
		// gateway's key cache listens for these), but the feed is current.
		c.seq = max(c.seq, r.Seq)
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
