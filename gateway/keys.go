package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// keyCache keeps decrypted held keys for at most ttl, so the hot path does
// not open a sealed blob per request and a key does not stay in memory
// longer than that (Go strings cannot be wiped; dropping the last
// reference is the bound we have).
type keyCache struct {
	held   HeldStore
	opener Opener
	ttl    time.Duration
	now    func() time.Time

	mu sync.RWMutex
	m  map[string]*keyEntry
	// dropped counts forgetID calls: a key read from the store while one
	// happened may be the old one, so it is used but not cached.
	dropped uint64
}

type keyEntry struct {
	id          string
	provider    string
	kind        string // the catalog kind ("access-key-id" for an AWS key pair)
	environment string
	key         aicred.Secret
	heldExpires time.Time
	status      aicred.HeldStatus // suspended and revoked credentials are never injected
	expires     time.Time
	// secretsCache: the key and its encodings, scrubbed from answers
	// (scrub.go); computed once.
	secretsOnce  sync.Once
	secretsCache *secretSet
}

func newKeyCache(h HeldStore, o Opener, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{held: h, opener: o, ttl: ttl, now: now, m: map[string]*keyEntry{}}
}

func (c *keyCache) get(ctx context.Context, id string) (*keyEntry, error) {
	c.mu.RLock()
	e := c.m[id]
	c.mu.RUnlock()
	if e != nil && c.now().Before(e.expires) {
		return e, nil
	}
	c.mu.RLock()
	dropped := c.dropped
	c.mu.RUnlock()
	h, err := c.held.GetHeldCredential(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err := c.opener.Open(h.Sealed, h.AAD())
	if err != nil {
		return nil, err
	}
	e = &keyEntry{id: id, provider: h.Provider, kind: h.Kind, environment: h.Environment, key: s, heldExpires: h.ExpiresAt, status: h.Status, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	if c.dropped != dropped {
		c.mu.Unlock()
		return e, nil
	}
	c.m[id] = e
	c.mu.Unlock()
	time.AfterFunc(c.ttl, func() {
		c.mu.Lock()
		if c.m[id] == e {
			delete(c.m, id)
		}
		c.mu.Unlock()
	})
	return e, nil
}

// forget drops e from the cache, so the next request reads the held
// credential again: the provider refused e's key, which is what follows a
// rotation once the old key is revoked at the provider.
func (c *keyCache) forget(e *keyEntry) {
	c.mu.Lock()
	if c.m[e.id] == e {
		delete(c.m, e.id)
	}
	c.mu.Unlock()
}

// forgetID drops the cached key of held credential id, whatever it is.
func (c *keyCache) forgetID(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.dropped++
	c.mu.Unlock()
}

// A RevocationWatcher delivers every revocation made by any process
// sharing the store; aicred.Store and grantcache.Cache satisfy it.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, fn func(aicred.Revocation)) error
}

// WatchHeldKeys makes the gateway drop a cached key as soon as any process
// sharing the store says its held credential changed secret (a revocation
// by aicred.RevokeHeldKey, which a rotation or replacement makes) or
// withdrew the credential (aicred.RevokeCredential): the next request
// reads the held credential again, so every replica serves the new key at
// once instead of after the cache TTL. It subscribes until ctx ends.
func (g *Gateway) WatchHeldKeys(ctx context.Context, w RevocationWatcher) error {
	return w.WatchRevocations(ctx, func(r aicred.Revocation) {
		if r.By == aicred.RevokeHeldKey || r.By == aicred.RevokeCredential {
			g.keys.forgetID(r.Value)
		}
	})
}
