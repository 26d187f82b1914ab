package s3fence_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aicred/aicred"
)

// revocationFeed is a RevocationWatcher the test feeds by hand, as the
// store's feed delivers what any server revoked.
type revocationFeed struct {
	mu  sync.Mutex
	fns []func(aicred.Revocation)
}

func (f *revocationFeed) WatchRevocations(_ context.Context, fn func(aicred.Revocation)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fns = append(f.fns, fn)
	return nil
}

func (f *revocationFeed) send(r aicred.Revocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.fns {
		fn(r)
	}
}

// TestHeldKeyRotationAndStatus: the fence caches the held key for KeyTTL
// (an hour here), yet a rotation, a suspension and a reinstatement made
// by any server take effect at the next request, through the revocation
// feed; a suspended held credential is never used.
func TestHeldKeyRotationAndStatus(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	feed := &revocationFeed{}
	ctx := context.Background()
	if err := f.fence.WatchHeldKeys(ctx, feed); err != nil {
		t.Fatal(err)
	}
	token, _ := f.issue(t, time.Hour)
	c := f.client(t, f.pair(t, token))
	list := func() error {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("datasets"), Prefix: aws.String("train/")})
		return err
	}
	if err := list(); err != nil {
		t.Fatal(err)
	}

	// Rotation: a new key pair in the store, the old one deleted at AWS.
	newID, newSecret := "AKIA"+f.gen.UpperNum(16), f.gen.Alnum(40)
	f.addHeld(t, "hc_s3", newID+":"+newSecret)
	f.upstream.rotate(newID, newSecret)
	feed.send(aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_s3", Reason: "rotated"})
	if err := list(); err != nil {
		t.Fatalf("after rotation: %v", err) // the store also reports a request signed with the old key
	}

	// Suspension: refused without reaching the store.
	h, err := f.held.GetHeldCredential(ctx, "hc_s3")
	if err != nil {
		t.Fatal(err)
	}
	h.Status = aicred.HeldSuspended
	f.held.put(h)
	feed.send(aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_s3", Reason: "held credential suspended"})
	before := f.upstream.Calls()
	if err := list(); apiCode(err) != "InternalError" {
		t.Fatalf("suspended: %v, want InternalError", err)
	}
	if f.upstream.Calls() != before {
		t.Fatal("a suspended held key reached the store")
	}

	// Reinstated.
	active := *h
	active.Status = aicred.HeldActive
	f.held.put(&active)
	feed.send(aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_s3", Reason: "held credential active"})
	if err := list(); err != nil {
		t.Fatalf("reinstated: %v", err)
	}

	// Other revocations leave the cache alone.
	feed.send(aicred.Revocation{By: aicred.RevokeToken, Value: "tok_other", Reason: "test"})
	if err := list(); err != nil {
		t.Fatal(err)
	}
}
