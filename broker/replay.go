package broker

import (
	"context"
	"sync"
	"time"
)

// A ReplayCache remembers the tokens already presented, by a hash of their
// issuer and jti, until they expire.
type ReplayCache interface {
	// Remember records key until the given time and reports whether it
	// was new; false means the token was seen before (a replay).
	// Errors: ErrUnavailable when the cache cannot be reached; the caller
	// refuses the token (fail closed).
	Remember(ctx context.Context, key [32]byte, until time.Time) (fresh bool, err error)
}

// MemoryReplayCache is a ReplayCache for one process. Entries are dropped
// once expired, in sweeps amortised over Remember calls.
type MemoryReplayCache struct {
	now func() time.Time

	mu        sync.Mutex
	seen      map[[32]byte]time.Time
	lastSweep time.Time
}

// replaySweepEvery is how often Remember drops expired entries.
const replaySweepEvery = time.Minute

// NewMemoryReplayCache returns an empty cache; clock nil means time.Now.
func NewMemoryReplayCache(clock func() time.Time) *MemoryReplayCache {
	if clock == nil {
		clock = time.Now
	}
	return &MemoryReplayCache{now: clock, seen: make(map[[32]byte]time.Time)}
}

// Remember implements ReplayCache.
func (c *MemoryReplayCache) Remember(_ context.Context, key [32]byte, until time.Time) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) >= replaySweepEvery {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		c.lastSweep = now
	}
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	c.seen[key] = until
	return true, nil
}

// Len returns the number of remembered tokens, expired ones included until
// the next sweep.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
