package gateway

import (
	"context"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

type countingHeld struct {
	heldMap
	n int
}

func (c *countingHeld) GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error) {
	c.n++
	return c.heldMap.GetHeldCredential(ctx, id)
}

type plainOpener struct{}

func (plainOpener) Open(blob, _ []byte) (aicred.Secret, error) {
	return aicred.NewSecret(string(blob)), nil
}

type failingOpener struct{}

func (failingOpener) Open(_, _ []byte) (aicred.Secret, error) {
	return aicred.Secret{}, aicred.Errorf(aicred.ErrUnauthorized, "wrong master key")
}

// A decrypted key is reused within the TTL and dropped from memory after.
func TestKeyCacheTTL(t *testing.T) {
	h := &countingHeld{heldMap: heldMap{"hc": {ID: "hc", Provider: "openai", Sealed: []byte("k")}}}
	c := newKeyCache(h, plainOpener{}, 50*time.Millisecond, time.Now)
	for range 3 {
		if e, err := c.get(context.Background(), "hc"); err != nil || e.key.Reveal() != "k" {
			t.Fatal(e, err)
		}
	}
	if h.n != 1 {
		t.Fatalf("%d store reads within the TTL", h.n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.RLock()
		n := len(c.m)
		c.mu.RUnlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key still in memory after the TTL")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A held credential that cannot be opened is a 503, not the token's 401.
func TestUnopenableHeldCredential(t *testing.T) {
	f := newFixture(t, 40, func(c *Config) { c.Opener = failingOpener{} })
	f.openai = openAIJSON
	st, body := f.post(t, "/v1/chat/completions", f.token, `{"model":"gpt-4o-mini"}`)
	if st != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", st, body)
	}
	openAIShaped(t, body)
	if f.upstreamCalls() != 0 {
		t.Fatal("upstream called")
	}
}

// downTokens is a token store that cannot be reached.
type downTokens struct{ broker.TokenStore }

func (downTokens) LookupGrant(context.Context, string) (*aicred.Grant, error) {
	return nil, aicred.Errorf(aicred.ErrUnavailable, "store: connection refused")
}

// A token store that cannot be reached fails closed: 503, nothing sent.
func TestTokenStoreDownFailsClosed(t *testing.T) {
	f := newFixture(t, 41, func(c *Config) { c.Tokens = downTokens{c.Tokens} })
	f.anthropic = anthropicJSON
	st, body := f.post(t, "/v1/messages", f.token, `{"model":"claude-haiku-4-5","max_tokens":5}`)
	if st != http.StatusServiceUnavailable || strings.Contains(body, "connection refused") {
		t.Fatalf("%d %s", st, body)
	}
	anthropicShaped(t, body)
	if f.upstreamCalls() != 0 {
		t.Fatal("upstream called")
	}
}

// After the provider refuses a key (a rotation, once the old key is
// revoked), the next request reads the held credential again.
func TestKeyCacheForgetReadsRotatedKey(t *testing.T) {
	h := &countingHeld{heldMap: heldMap{"hc": {ID: "hc", Provider: "openai", Sealed: []byte("old")}}}
	c := newKeyCache(h, plainOpener{}, time.Hour, time.Now)
	e, err := c.get(t.Context(), "hc")
	if err != nil || e.key.Reveal() != "old" {
		t.Fatal(e, err)
	}
	h.heldMap["hc"] = &aicred.HeldCredential{ID: "hc", Provider: "openai", Sealed: []byte("new")}
	if e2, _ := c.get(t.Context(), "hc"); e2.key.Reveal() != "old" {
		t.Fatal("the cache was not used within its TTL")
	}
	c.forget(e)
	c.forget(e) // twice is harmless
	e3, err := c.get(t.Context(), "hc")
	if err != nil || e3.key.Reveal() != "new" || h.n != 2 {
		t.Fatalf("after forget: %v, %v, %d store reads", e3, err, h.n)
	}
	// A stale entry forgotten late does not drop its successor.
	c.forget(e)
	if e4, _ := c.get(t.Context(), "hc"); e4 != e3 || h.n != 2 {
		t.Fatal("forgetting an old entry dropped the current one")
	}
}

// Two gateways on one store (the second through its own connection, as a
// second server process): a rotated held credential's cached key is
// dropped by both as soon as the held-key revocation reaches them, long
// before the key cache's TTL.
func TestWatchHeldKeysTwoGateways(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "aicred.db")
	st1, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st1.Close()
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	master := make([]byte, seal.KeySize)
	_, _ = rand.Read(master)
	ring, err := seal.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(77)
	oldKey, newKey := aicred.NewSecret("sk-proj-"+g.Alnum(40)), aicred.NewSecret("sk-proj-"+g.Alnum(40))
	h := &aicred.HeldCredential{ID: "hc_rot", Provider: "openai", Kind: "project-key", Fingerprint: oldKey.Fingerprint(), Redacted: oldKey.Redacted()}
	if h.Sealed, h.KeyID, err = ring.Seal(oldKey, h.AAD()); err != nil {
		t.Fatal(err)
	}
	if err := st1.PutHeldCredential(ctx, h); err != nil {
		t.Fatal(err)
	}
	var gws []*Gateway
	for _, st := range []aicred.Store{st1, st2} {
		gw, err := New(Config{Tokens: broker.NewMemoryTokenStore(nil), Held: st, Opener: ring, Usage: &MemoryRecorder{},
			Upstreams: map[string]string{"openai": "http://127.0.0.1:1"}, KeyTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.WatchHeldKeys(ctx, st); err != nil {
			t.Fatal(err)
		}
		if e, err := gw.keys.get(ctx, h.ID); err != nil || e.key.Reveal() != oldKey.Reveal() {
			t.Fatalf("before: %v", err)
		}
		gws = append(gws, gw)
	}
	next := &aicred.HeldCredential{ID: h.ID, Fingerprint: newKey.Fingerprint(), Redacted: newKey.Redacted()}
	if next.Sealed, next.KeyID, err = ring.Seal(newKey, next.AAD()); err != nil {
		t.Fatal(err)
	}
	if _, err := st1.RotateHeld(ctx, next); err != nil {
		t.Fatal(err)
	}
	// Without the revocation, the cache keeps the old key for its TTL.
	for i, gw := range gws {
		if e, _ := gw.keys.get(ctx, h.ID); e.key.Reveal() != oldKey.Reveal() {
			t.Fatalf("gateway %d dropped the key before it was told", i)
		}
	}
	start := time.Now()
	if err := st1.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeHeldKey, Value: h.ID, Reason: "rotated"}); err != nil {
		t.Fatal(err)
	}
	for i, gw := range gws {
		for {
			e, err := gw.keys.get(ctx, h.ID)
			if err != nil {
				t.Fatal(err)
			}
			if e.key.Reveal() == newKey.Reveal() {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("gateway %d still serves the old key", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("gateway %d serves the new key %v after the revocation", i, time.Since(start).Round(time.Millisecond))
	}
}

// A key read from the store while a drop happens is used but not cached:
// it may be the secret the drop was about.
func TestKeyCacheDropDuringRead(t *testing.T) {
	h := &droppingHeld{heldMap: heldMap{"hc": {ID: "hc", Provider: "openai", Sealed: []byte("old")}}}
	c := newKeyCache(h, plainOpener{}, time.Hour, time.Now)
	h.during = func() { c.forgetID("hc") }
	if e, err := c.get(context.Background(), "hc"); err != nil || e.key.Reveal() != "old" {
		t.Fatal(e, err)
	}
	c.mu.RLock()
	n := len(c.m)
	c.mu.RUnlock()
	if n != 0 {
		t.Fatal("a key read across a drop was cached")
	}
}

type droppingHeld struct {
	heldMap
	during func()
}

func (d *droppingHeld) GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error) {
	d.during()
	return d.heldMap.GetHeldCredential(ctx, id)
}
