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
}

type keyEntry struct {
	id          string
	provider    string
	kind        string // the catalog kind ("access-key-id" for an AWS key pair)
	environment string
	key         aicred.Secret
	heldExpires time.Time
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
	h, err := c.held.GetHeldCredential(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err := c.opener.Open(h.Sealed, h.AAD())
	if err != nil {
		return nil, err
	}
	e = &keyEntry{id: id, provider: h.Provider, kind: h.Kind, environment: h.Environment, key: s, heldExpires: h.ExpiresAt, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
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
