package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// testHeldStatus: a held credential starts active; SetHeldStatus suspends,
// reinstates and revokes it, each change stored, audited (held.status with
// its reason) and published as a held-key revocation in the same write
// (watchers hear it; no grant is revoked); setting the same status again
// changes and records nothing; a rotation keeps the status; bad input is
// refused and changes nothing.
func testHeldStatus(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(13)
	h := putHeld(t, s, k, g.Secret())
	got := must(s.GetHeldCredential(ctx(t), h.ID))(t)
	if got.Status != aicred.HeldActive || !got.Usable(h.ExpiresAt.Add(-time.Hour)) || !got.StatusAt.IsZero() {
		t.Fatalf("new held credential: status %q at %v", got.Status, got.StatusAt)
	}
	gr, _ := NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:trainer", "train", "k8s-ml", h.ID)
	issue(t, s, gr)

	wctx, stop := context.WithCancel(ctx(t))
	defer stop()
	c := newCollector()
	if err := s.WatchRevocations(wctx, c.fn); err != nil {
		t.Fatal(err)
	}
	before := must(s.ListAudit(ctx(t), 1, 100000))(t)

	steps := []struct {
		status aicred.HeldStatus
		reason string
		usable bool
	}{
		{aicred.HeldSuspended, "leak at repo/config.env:3", false},
		{aicred.HeldActive, "false alarm", true},
		{aicred.HeldRevoked, "revoked at the provider", false},
	}
	for i, st := range steps {
		out, err := s.SetHeldStatus(ctx(t), h.ID, st.status, st.reason)
		if err != nil {
			t.Fatalf("%s: %v", st.status, err)
		}
		got := must(s.GetHeldCredential(ctx(t), h.ID))(t)
		if out.Status != st.status || got.Status != st.status || got.StatusReason != st.reason || got.StatusAt.IsZero() ||
			got.Usable(h.ExpiresAt.Add(-time.Hour)) != st.usable || got.Fingerprint != h.Fingerprint {
			t.Fatalf("%s: stored %+v", st.status, got)
		}
		rs := c.wait(t, i+1, 5*time.Second)
		if r := rs[i]; r.By != aicred.RevokeHeldKey || r.Value != h.ID || r.Grants != 0 {
			t.Fatalf("%s: revocation %+v", st.status, r)
		}
	}
	if g := must(s.LookupGrant(ctx(t), gr.TokenHash))(t); !g.RevokedAt.IsZero() {
		t.Fatal("a status change revoked a grant")
	}
	// The same status again: nothing recorded.
	n := len(must(s.ListAudit(ctx(t), 1, 100000))(t))
	if _, err := s.SetHeldStatus(ctx(t), h.ID, aicred.HeldRevoked, "again"); err != nil {
		t.Fatal(err)
	}
	after := must(s.ListAudit(ctx(t), 1, 100000))(t)
	if len(after) != n {
		t.Fatalf("setting the same status wrote %d audit records", len(after)-n)
	}
	var changes []string
	for _, e := range after[len(before):] {
		if e.Action == aicred.ActionHeldStatus {
			if e.Subject != h.ID || e.Data["fingerprint"] != string(h.Fingerprint) || e.Data["revocation"] == "" {
				t.Fatalf("held.status record %+v", e)
			}
			changes = append(changes, e.Data["from"]+">"+e.Data["status"]+":"+e.Data["reason"])
		}
	}
	want := []string{"active>suspended:leak at repo/config.env:3", "suspended>active:false alarm", "active>revoked:revoked at the provider"}
	if len(changes) != len(want) {
		t.Fatalf("held.status records %q, want %q", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("held.status records %q, want %q", changes, want)
		}
	}

	// A rotation keeps the status.
	sec := g.Secret()
	next := &aicred.HeldCredential{ID: h.ID, Fingerprint: sec.Fingerprint(), Redacted: sec.Redacted()}
	var err error
	if next.Sealed, next.KeyID, err = k.Seal(sec, next.AAD()); err != nil {
		t.Fatal(err)
	}
	if r, err := s.RotateHeld(ctx(t), next); err != nil || r.Status != aicred.HeldRevoked {
		t.Fatalf("rotate: %v", err)
	}
	if got := must(s.GetHeldCredential(ctx(t), h.ID))(t); got.Status != aicred.HeldRevoked || got.Fingerprint != sec.Fingerprint() {
		t.Fatalf("after a rotation: status %q", got.Status)
	}

	for _, tc := range []struct {
		id     string
		status aicred.HeldStatus
		reason string
		kind   aicred.ErrorKind
	}{
		{h.ID, "paused", "x", aicred.ErrInvalid},
		{"", aicred.HeldSuspended, "x", aicred.ErrInvalid},
		{"hc_missing", aicred.HeldSuspended, "x", aicred.ErrNotFound},
	} {
		if _, err := s.SetHeldStatus(ctx(t), tc.id, tc.status, tc.reason); aicred.KindOf(err) != tc.kind {
			t.Errorf("SetHeldStatus(%q, %q): %v, want %v", tc.id, tc.status, err, tc.kind)
		}
	}
	if got := must(s.GetHeldCredential(ctx(t), h.ID))(t); got.Status != aicred.HeldRevoked {
		t.Fatalf("refused input changed the status: %q", got.Status)
	}
}
