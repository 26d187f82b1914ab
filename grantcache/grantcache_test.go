package grantcache

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

func openStore(t *testing.T, path string) aicred.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func grant(i int, role string, now time.Time) (*aicred.Grant, string) {
	tok := provider.FormatToken(provider.TokenPrefixWorkload, provider.NewGen(uint64(i)+1).Chars(provider.Alnum, provider.TokenRandomLen))
	return &aicred.Grant{
		ID: "tok_" + provider.NewGen(uint64(i)+100).Hex(24), TokenHash: aicred.HashToken(tok), Class: aicred.TokenWorkload,
		Issuer: "https://issuer.test", Subject: "w" + role, Role: role, Policy: "p-" + role,
		Credentials: []string{"hc_" + role}, Scope: []string{"chat"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	}, tok
}

// TestRevocationFromAnotherStore: a grant cached by one process is revoked
// through another Store on the same database; the cache must mark it
// revoked within a second, and leave other grants alone.
func TestRevocationFromAnotherStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	a, b := openStore(t, path), openStore(t, path)
	c := New(a, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g1, _ := grant(1, "trainer", now)
	g2, _ := grant(2, "serving", now)
	for _, g := range []*aicred.Grant{g1, g2} {
		if err := c.IssueGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.LookupGrant(ctx, g1.TokenHash); err != nil || !got.Active(now) {
		t.Fatalf("before: %v %v", got, err)
	}
	start := time.Now()
	if err := b.Revoke(aicred.WithActor(ctx, "test"), &aicred.Revocation{By: aicred.RevokeRole, Value: "trainer"}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := c.LookupGrant(ctx, g1.TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if !got.RevokedAt.IsZero() {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("revocation not applied within a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := c.LookupGrant(ctx, g2.TokenHash); !got.Active(time.Now()) {
		t.Error("an unrelated grant was revoked")
	}
}

// TestLocalRevokeAndMiss: Revoke through the cache applies at once; a grant
// not cached yet is fetched from the store with its revoked state; unknown
// hashes are ErrNotFound and never cached.
func TestLocalRevokeAndMiss(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st := openStore(t, path)
	c := New(st, nil)
	ctx := context.Background()
	now := time.Now()
	g1, _ := grant(3, "a", now)
	g2, _ := grant(4, "b", now)
	if err := c.IssueGrant(ctx, g1); err != nil {
		t.Fatal(err)
	}
	if err := st.IssueGrant(ctx, g2); err != nil { // bypasses the cache
		t.Fatal(err)
	}
	r := &aicred.Revocation{By: aicred.RevokeCredential, Value: "hc_a"}
	if err := c.Revoke(ctx, r); err != nil || r.Grants != 1 {
		t.Fatalf("revoke: %v, %d grants", err, r.Grants)
	}
	if got, _ := c.LookupGrant(ctx, g1.TokenHash); got.RevokedAt.IsZero() {
		t.Error("local revoke not applied to the cache")
	}
	if err := st.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeToken, Value: g2.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.LookupGrant(ctx, g2.TokenHash); got.RevokedAt.IsZero() {
		t.Error("miss fetched a stale grant")
	}
	if _, err := c.LookupGrant(ctx, aicred.HashToken("nope")); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Errorf("unknown hash: %v", err)
	}
	if c.Len() != 2 {
		t.Errorf("cached %d grants, want 2", c.Len())
	}
}

// TestConcurrentLookupsAndRevocations runs lookups against revocations
// (go test -race finds unsafe sharing).
func TestConcurrentLookupsAndRevocations(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "aicred.db"))
	c := New(st, nil)
	ctx := context.Background()
	now := time.Now()
	var hashes []string
	for i := range 50 {
		g, _ := grant(10+i, []string{"x", "y"}[i%2], now)
		if err := c.IssueGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, g.TokenHash)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if _, err := c.LookupGrant(ctx, hashes[(i+w)%len(hashes)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	if err := c.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeRole, Value: "x"}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	revoked := 0
	for _, h := range hashes {
		if g, _ := c.LookupGrant(ctx, h); !g.RevokedAt.IsZero() {
			revoked++
		}
	}
	if revoked != 25 {
		t.Errorf("%d revoked, want 25", revoked)
	}
}

// flaky wraps a store; when down, reads fail as with a database outage.
type flaky struct {
	aicred.TokenService
	down atomic.Bool
	// onIssue runs after the insert commits, before IssueGrant returns.
	onIssue func()
}

func (f *flaky) LookupGrant(ctx context.Context, h string) (*aicred.Grant, error) {
	if f.down.Load() {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "store down")
	}
	return f.TokenService.LookupGrant(ctx, h)
}

func (f *flaky) RevocationsSince(ctx context.Context, seq int64) ([]aicred.Revocation, error) {
	if f.down.Load() {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "store down")
	}
	return f.TokenService.RevocationsSince(ctx, seq)
}

func (f *flaky) IssueGrant(ctx context.Context, g *aicred.Grant) error {
	if err := f.TokenService.IssueGrant(ctx, g); err != nil {
		return err
	}
	if f.onIssue != nil {
		f.onIssue()
	}
	return nil
}

// TestStaleFeedFailsClosed: when the revocation log cannot be read, the
// cache stops vouching for grants and lookups fail with the store.
func TestStaleFeedFailsClosed(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "aicred.db"))
	f := &flaky{TokenService: st}
	c := New(f, nil)
	clock := time.Now()
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ := grant(77, "z", time.Now())
	if err := c.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupGrant(ctx, g.TokenHash); err != nil {
		t.Fatalf("fresh cache: %v", err)
	}
	f.down.Store(true)
	mu.Lock()
	clock = clock.Add(defaultMaxStale + time.Second)
	mu.Unlock()
	if _, err := c.LookupGrant(ctx, g.TokenHash); aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("stale cache with the store down answered: %v", err)
	}
}

// TestRevocationDuringIssue: a revocation that commits between the insert
// and the caching of a new grant must still apply to the cached copy.
func TestRevocationDuringIssue(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "aicred.db"))
	f := &flaky{TokenService: st}
	c := New(f, nil)
	ctx := context.Background()
	g, _ := grant(78, "race", time.Now())
	f.onIssue = func() {
		r := aicred.Revocation{By: aicred.RevokeRole, Value: "race"}
		if err := st.Revoke(ctx, &r); err != nil {
			t.Error(err)
		}
		c.apply(r) // what the watch delivers
	}
	if err := c.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	cached := c.grants[g.TokenHash]
	c.mu.RUnlock()
	if cached == nil || cached.RevokedAt.IsZero() {
		t.Fatal("grant cached as active although it was revoked before caching")
	}
}

// A held-key revocation (a held credential changed secret) withdraws no
// cached grant, whether it comes through the cache or from the feed, and
// still advances the feed.
func TestHeldKeyRevocationRevokesNothing(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "aicred.db"))
	c := New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ := grant(5, "a", time.Now())
	if err := c.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	r := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_a", Reason: "rotated"}
	if err := c.Revoke(ctx, r); err != nil || r.Grants != 0 {
		t.Fatalf("revoke: %v, %d grants", err, r.Grants)
	}
	if err := st.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_a"}); err != nil {
		t.Fatal(err)
	}
	c.sync(ctx)
	if got, err := c.LookupGrant(ctx, g.TokenHash); err != nil || !got.RevokedAt.IsZero() {
		t.Fatalf("grant after held-key revocations: %+v, %v", got, err)
	}
	c.mu.RLock()
	seq := c.seq
	c.mu.RUnlock()
	if seq != 2 {
		t.Fatalf("feed at seq %d, want 2", seq)
	}
}

// silentTokens is a token store behind a black-holed network while
// silent is set: reads wait, answering nothing, until their context ends.
type silentTokens struct {
	aicred.TokenService
	silent atomic.Bool
}

func (s *silentTokens) wait(ctx context.Context) error {
	if !s.silent.Load() {
		return nil
	}
	<-ctx.Done()
	return aicred.Errorf(aicred.ErrUnavailable, "silent store: %w", ctx.Err())
}

func (s *silentTokens) LookupGrant(ctx context.Context, h string) (*aicred.Grant, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.TokenService.LookupGrant(ctx, h)
}

func (s *silentTokens) RevocationsSince(ctx context.Context, seq int64) ([]aicred.Revocation, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.TokenService.RevocationsSince(ctx, seq)
}

// TestSilentStoreFailsClosedPromptly: with the store black-holed (it
// answers nothing and refuses nothing), the feed goes stale, its age
// grows, and a lookup past the fail-closed window fails within the
// store timeout even when the caller's context has no deadline; once the
// store answers again the feed is current within a sync.
func TestSilentStoreFailsClosedPromptly(t *testing.T) {
	st := &silentTokens{TokenService: openStore(t, filepath.Join(t.TempDir(), "aicred.db"))}
	c := New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ := grant(1, "trainer", time.Now())
	if err := c.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if age := c.FeedAge(); age > syncInterval {
		t.Fatalf("feed age %v right after start", age)
	}
	st.silent.Store(true)
	time.Sleep(defaultMaxStale + syncInterval)
	if age := c.FeedAge(); age <= defaultMaxStale {
		t.Fatalf("feed age %v with the store silent for %v", age, defaultMaxStale+syncInterval)
	}
	start := time.Now()
	if _, err := c.LookupGrant(context.Background(), g.TokenHash); aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("stale cache, silent store: want ErrUnavailable, got %v", err)
	}
	if took := time.Since(start); took > storeTimeout+time.Second {
		t.Fatalf("the lookup took %v (store timeout %v)", took, storeTimeout)
	}
	st.silent.Store(false)
	deadline := time.Now().Add(storeTimeout + 2*syncInterval)
	for c.FeedAge() > syncInterval {
		if time.Now().After(deadline) {
			t.Fatalf("feed still %v old after the store came back: the sync is stuck", c.FeedAge())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := c.LookupGrant(context.Background(), g.TokenHash); err != nil || !got.Active(time.Now()) {
		t.Fatalf("after: %v %v", got, err)
	}
}
