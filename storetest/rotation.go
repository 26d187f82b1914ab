package storetest

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// newRotation returns a rotation of h, with h's blob as the old secret.
func newRotation(h *aicred.HeldCredential, admin string) *aicred.Rotation {
	return &aicred.Rotation{
		ID: aicred.NewRotationID(), HeldID: h.ID, Provider: h.Provider, Kind: h.Kind, AdminHeldID: admin,
		OldFingerprint: h.Fingerprint, OldRedacted: h.Redacted, OldProviderID: "key_old",
		OldAttrs: map[string]string{"project": "proj_1"}, OldExpiresAt: h.ExpiresAt,
		OldSealed: h.Sealed, OldKeyID: h.KeyID,
	}
}

// A rotation is recorded step by step: each step compares and sets the
// state, writes its audit record, and the sealed blobs are kept exactly
// as long as the steps say.
func testRotations(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(60)
	oldSec, newSec, adminSec := g.Secret(), g.Secret(), g.Secret()
	h := putHeld(t, s, k, oldSec)
	admin := putHeld(t, s, k, adminSec)

	r := newRotation(h, admin.ID)
	if err := s.StartRotation(aicred.WithActor(ctx(t), "alice"), r); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetRotation(ctx(t), r.ID))(t)
	if got.State != aicred.RotationStarted || got.Actor != "alice" || got.AdminHeldID != admin.ID || got.OldFingerprint != h.Fingerprint ||
		!bytes.Equal(got.OldSealed, h.Sealed) || got.OldKeyID != h.KeyID || !maps.Equal(got.OldAttrs, r.OldAttrs) ||
		!got.OldExpiresAt.Equal(h.ExpiresAt) || got.CreatedAt.IsZero() || got.NewSealed != nil {
		t.Fatalf("started: %+v", got)
	}
	if plain, err := k.Open(got.OldSealed, got.OldAAD()); err != nil || plain.Reveal() != oldSec.Reveal() {
		t.Fatalf("old blob does not open with OldAAD: %v", err)
	}

	// One unfinished rotation per held credential.
	wantKind(t, s.StartRotation(ctx(t), newRotation(h, admin.ID)), aicred.ErrConflict)
	// A missing held or admin credential.
	missing := newRotation(h, "hc_missing")
	wantKind(t, s.StartRotation(ctx(t), missing), aicred.ErrNotFound)
	bad := newRotation(h, h.ID)
	wantKind(t, s.StartRotation(ctx(t), bad), aicred.ErrInvalid)

	// created: the new secret sealed in the rotation.
	step := &aicred.RotationStep{To: aicred.RotationCreated, NewFingerprint: newSec.Fingerprint(), NewRedacted: newSec.Redacted(),
		NewProviderID: "key_new", NewAttrs: map[string]string{"project": "proj_1"}, Detail: "created"}
	probe := *got
	probe.NewFingerprint = newSec.Fingerprint()
	var err error
	if step.NewSealed, step.NewKeyID, err = k.Seal(newSec, probe.NewAAD()); err != nil {
		t.Fatal(err)
	}
	got = must(s.AdvanceRotation(ctx(t), r.ID, aicred.RotationStarted, step))(t)
	stored := must(s.GetRotation(ctx(t), r.ID))(t)
	if stored.State != aicred.RotationCreated || stored.NewProviderID != "key_new" || stored.NewFingerprint != newSec.Fingerprint() ||
		!bytes.Equal(stored.NewSealed, step.NewSealed) || stored.Error != "" || !maps.Equal(stored.NewAttrs, step.NewAttrs) {
		t.Fatalf("created: %+v", stored)
	}
	if plain, err := k.Open(stored.NewSealed, stored.NewAAD()); err != nil || plain.Reveal() != newSec.Reveal() {
		t.Fatalf("new blob: %v", err)
	}
	if got.State != stored.State || !bytes.Equal(got.NewSealed, stored.NewSealed) {
		t.Fatalf("returned %+v, stored %+v", got, stored)
	}

	// Compare and set: a step from a stale state is a conflict.
	_, err = s.AdvanceRotation(ctx(t), r.ID, aicred.RotationStarted, &aicred.RotationStep{To: aicred.RotationCreated})
	wantKind(t, err, aicred.ErrConflict)
	// Skipping a step, a step back, a non-moving step without an error: invalid.
	for _, st := range []struct {
		from aicred.RotationState
		to   aicred.RotationState
	}{{aicred.RotationCreated, aicred.RotationVerifiedNew}, {aicred.RotationCreated, aicred.RotationStarted},
		{aicred.RotationCreated, aicred.RotationCreated}, {aicred.RotationCreated, "bogus"}} {
		_, err = s.AdvanceRotation(ctx(t), r.ID, st.from, &aicred.RotationStep{To: st.to})
		wantKind(t, err, aicred.ErrInvalid)
	}
	_, err = s.AdvanceRotation(ctx(t), "rot_missing", aicred.RotationCreated, &aicred.RotationStep{To: aicred.RotationSealed})
	wantKind(t, err, aicred.ErrNotFound)

	// A failed attempt stays put, records the error; the next step clears it.
	must(s.AdvanceRotation(ctx(t), r.ID, aicred.RotationCreated, &aicred.RotationStep{To: aicred.RotationCreated, Error: "store unavailable"}))(t)
	if st := must(s.GetRotation(ctx(t), r.ID))(t); st.State != aicred.RotationCreated || st.Error != "store unavailable" {
		t.Fatalf("failed attempt: %+v", st)
	}
	got = must(s.AdvanceRotation(ctx(t), r.ID, aicred.RotationCreated, &aicred.RotationStep{To: aicred.RotationSealed, ClearNewSealed: true}))(t)
	if got.Error != "" || got.NewSealed != nil || got.NewKeyID != "" || got.NewFingerprint != newSec.Fingerprint() {
		t.Fatalf("sealed: %+v", got)
	}
	if st := must(s.GetRotation(ctx(t), r.ID))(t); st.NewSealed != nil || st.NewProviderID != "key_new" {
		t.Fatalf("sealed, stored: %+v", st)
	}
	for _, to := range []aicred.RotationState{aicred.RotationVerifiedNew, aicred.RotationSwitched, aicred.RotationRevokedOld, aicred.RotationVerifiedOldDead} {
		got = must(s.AdvanceRotation(ctx(t), r.ID, got.State, &aicred.RotationStep{To: to}))(t)
	}
	// The old credential is revoked: no rollback.
	_, err = s.AdvanceRotation(ctx(t), r.ID, got.State, &aicred.RotationStep{To: aicred.RotationRollingBack})
	wantKind(t, err, aicred.ErrInvalid)
	got = must(s.AdvanceRotation(ctx(t), r.ID, got.State, &aicred.RotationStep{To: aicred.RotationDone, ClearOldSealed: true}))(t)
	if st := must(s.GetRotation(ctx(t), r.ID))(t); st.State != aicred.RotationDone || st.OldSealed != nil || st.OldKeyID != "" {
		t.Fatalf("done: %+v", st)
	}
	_, err = s.AdvanceRotation(ctx(t), r.ID, aicred.RotationDone, &aicred.RotationStep{To: aicred.RotationDone, Error: "again"})
	wantKind(t, err, aicred.ErrInvalid)

	// Finished: a new rotation may start; it rolls back.
	r2 := newRotation(h, "")
	if err := s.StartRotation(ctx(t), r2); err != nil {
		t.Fatal(err)
	}
	must(s.AdvanceRotation(ctx(t), r2.ID, aicred.RotationStarted, &aicred.RotationStep{To: aicred.RotationRollingBack}))(t)
	must(s.AdvanceRotation(ctx(t), r2.ID, aicred.RotationRollingBack, &aicred.RotationStep{To: aicred.RotationRolledBack, ClearOldSealed: true}))(t)

	all := must(s.ListRotations(ctx(t), aicred.RotationFilter{HeldID: h.ID}))(t)
	if len(all) != 2 {
		t.Fatalf("%d rotations", len(all))
	}
	if act := must(s.ListRotations(ctx(t), aicred.RotationFilter{Active: true}))(t); len(act) != 0 {
		t.Fatalf("active: %+v", act)
	}
	if one := must(s.ListRotations(ctx(t), aicred.RotationFilter{Limit: 1}))(t); len(one) != 1 {
		t.Fatalf("limit: %d", len(one))
	}
	_, err = s.ListRotations(ctx(t), aicred.RotationFilter{Limit: -1})
	wantKind(t, err, aicred.ErrInvalid)
	_, err = s.GetRotation(ctx(t), "rot_missing")
	wantKind(t, err, aicred.ErrNotFound)

	// The audit trail: started, each step, the failed attempt.
	var steps, failed, started int
	for _, e := range allAudit(t, s) {
		switch e.Action {
		case aicred.ActionRotationStarted:
			started++
		case aicred.ActionRotationStep:
			steps++
			if e.Data["rotation"] == "" || e.Data["to"] == "" {
				t.Fatalf("step record: %+v", e)
			}
		case aicred.ActionRotationFailed:
			failed++
			if e.Data["error"] != "store unavailable" {
				t.Fatalf("failed record: %+v", e)
			}
		}
	}
	if started != 2 || steps != 9 || failed != 1 {
		t.Fatalf("audit: %d started, %d steps, %d failed", started, steps, failed)
	}
	verifyOK(t, s)
}

// Two processes racing for the same step: exactly one wins.
func testRotationRace(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	h := putHeld(t, s, k, NewGen(61).Secret())
	r := newRotation(h, "")
	if err := s.StartRotation(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.AdvanceRotation(ctx(t), r.ID, aicred.RotationStarted, &aicred.RotationStep{To: aicred.RotationRollingBack})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			wantKind(t, err, aicred.ErrConflict)
		}
	}
	if wins != 1 {
		t.Fatalf("%d processes took the same step", wins)
	}
}

// A held-key revocation revokes no grant, and reaches watchers.
func testRevokeHeldKey(t *testing.T, b Backend) {
	s := open(t, b)
	wctx, stop := context.WithCancel(ctx(t))
	defer stop()
	c := newCollector()
	if err := s.WatchRevocations(wctx, c.fn); err != nil {
		t.Fatal(err)
	}
	g, _ := NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:trainer", "train", "k8s-ml", "hc_rot")
	issue(t, s, g)
	r := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: "hc_rot", Reason: "rotation rot_1"}
	if err := s.Revoke(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	if r.Grants != 0 {
		t.Fatalf("a held-key revocation revoked %d grants", r.Grants)
	}
	if got := must(s.LookupGrant(ctx(t), g.TokenHash))(t); !got.RevokedAt.IsZero() {
		t.Fatalf("grant revoked: %+v", got)
	}
	got := c.wait(t, 1, 5*time.Second)
	if got[0].By != aicred.RevokeHeldKey || got[0].Value != "hc_rot" || got[0].Seq != r.Seq {
		t.Fatalf("watched: %+v", got[0])
	}
}
