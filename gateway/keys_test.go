package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
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
