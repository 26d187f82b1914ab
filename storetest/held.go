package storetest

import (
	"bytes"
	"errors"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/seal"
)

func ring(tb testing.TB) *seal.Keyring {
	tb.Helper()
	k, _, err := seal.OpenFile(filepath.Join(tb.TempDir(), "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// held returns a held credential for sec, sealed with k.
func held(tb testing.TB, k *seal.Keyring, sec aicred.Secret, env string) *aicred.HeldCredential {
	tb.Helper()
	h := &aicred.HeldCredential{
		ID:          aicred.NewHeldID(),
		Provider:    "openai",
		Kind:        "project-key",
		Fingerprint: sec.Fingerprint(),
		Redacted:    sec.Redacted(),
		Environment: env,
		Labels:      map[string]string{"team": "ml", "purpose": "gateway"},
		ExpiresAt:   epoch.Add(180 * 24 * time.Hour),
	}
	var err error
	if h.Sealed, h.KeyID, err = k.Seal(sec, h.AAD()); err != nil {
		tb.Fatal(err)
	}
	return h
}

func putHeld(tb testing.TB, s aicred.Store, k *seal.Keyring, sec aicred.Secret) *aicred.HeldCredential {
	tb.Helper()
	h := held(tb, k, sec, "prod")
	if err := s.PutHeldCredential(ctx(tb), h); err != nil {
		tb.Fatal(err)
	}
	return h
}

func sameHeld(tb testing.TB, got, want *aicred.HeldCredential) {
	tb.Helper()
	if got.ID != want.ID || got.Provider != want.Provider || got.Kind != want.Kind || got.Fingerprint != want.Fingerprint ||
		got.Redacted != want.Redacted || got.Environment != want.Environment || !maps.Equal(got.Labels, want.Labels) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.RotatedAt.Equal(want.RotatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.KeyID != want.KeyID || !bytes.Equal(got.Sealed, want.Sealed) {
		tb.Fatalf("held credential:\n got %+v\nwant %+v", got, want)
	}
}

func testHeldCredentials(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(10)
	sec := g.Secret()
	h := held(t, k, sec, "prod")
	if err := s.PutHeldCredential(ctx(t), h); err != nil {
		t.Fatal(err)
	}
	if h.CreatedAt.IsZero() {
		t.Fatal("CreatedAt not defaulted")
	}
	got := must(s.GetHeldCredential(ctx(t), h.ID))(t)
	sameHeld(t, got, h)
	plain, err := k.Open(got.Sealed, got.AAD())
	if err != nil || plain.Reveal() != sec.Reveal() {
		t.Fatalf("stored blob does not open to the secret: %v", err)
	}

	// The inventory knows the credential and that aicred holds it.
	c := must(s.GetCredential(ctx(t), sec.Fingerprint()))(t)
	if !c.Held || c.Provider != "openai" || c.SightingCount != 0 || !c.FirstSeen.IsZero() || !c.ExpiresAt.Equal(h.ExpiresAt) {
		t.Fatalf("inventory record of a held credential: %+v", c.Credential)
	}
	// A later sighting of it keeps it held.
	must(s.RecordSightings(ctx(t), []aicred.Observation{Observation(sec, "/r", "leak.txt", "", epoch)}))(t)
	if c := must(s.GetCredential(ctx(t), sec.Fingerprint()))(t); !c.Held || c.SightingCount != 1 {
		t.Fatalf("held and sighted: %+v", c.Credential)
	}

	before := len(allAudit(t, s))
	dup := held(t, k, g.Secret(), "dev")
	dup.ID = h.ID
	wantKind(t, s.PutHeldCredential(ctx(t), dup), aicred.ErrConflict)
	for _, mutate := range []func(*aicred.HeldCredential){
		func(h *aicred.HeldCredential) { h.ID = "has space" },
		func(h *aicred.HeldCredential) { h.Sealed = nil },
		func(h *aicred.HeldCredential) { h.KeyID = "" },
		func(h *aicred.HeldCredential) { h.Fingerprint = "x" },
		func(h *aicred.HeldCredential) { h.Provider = "" },
	} {
		bad := held(t, k, g.Secret(), "dev")
		mutate(bad)
		wantKind(t, s.PutHeldCredential(ctx(t), bad), aicred.ErrInvalid)
	}
	if n := len(allAudit(t, s)); n != before {
		t.Fatalf("rejected puts wrote %d audit records", n-before)
	}
	_, err = s.GetHeldCredential(ctx(t), "hc_missing")
	wantKind(t, err, aicred.ErrNotFound)

	// List and filters.
	dev := held(t, k, g.Secret(), "dev")
	anth := held(t, k, g.Secret(), "prod")
	anth.Provider, anth.Kind = "anthropic", "api-key"
	for _, x := range []*aicred.HeldCredential{dev, anth} {
		if err := s.PutHeldCredential(ctx(t), x); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		f    aicred.HeldFilter
		want int
	}{
		{aicred.HeldFilter{}, 3},
		{aicred.HeldFilter{Provider: "openai"}, 2},
		{aicred.HeldFilter{Environment: "prod"}, 2},
		{aicred.HeldFilter{Provider: "anthropic", Kind: "api-key"}, 1},
		{aicred.HeldFilter{KeyID: k.Primary()}, 3},
		{aicred.HeldFilter{KeyID: "mk_other"}, 0},
	} {
		if got := must(s.ListHeldCredentials(ctx(t), c.f))(t); len(got) != c.want {
			t.Errorf("filter %+v: %d, want %d", c.f, len(got), c.want)
		}
	}
	all := must(s.ListHeldCredentials(ctx(t), aicred.HeldFilter{}))(t)
	for i := 1; i < len(all); i++ {
		if all[i-1].ID >= all[i].ID {
			t.Fatal("held credentials not ordered by id")
		}
	}

	// Audit: one held.added per put, naming the fingerprint and key only.
	for _, e := range allAudit(t, s) {
		if e.Action != aicred.ActionHeldAdded {
			continue
		}
		if e.Data["fingerprint"] == "" || e.Data["key_id"] == "" || e.Subject == "" {
			t.Fatalf("held.added record: %+v", e)
		}
	}
	if n := count(auditActions(t, s), aicred.ActionHeldAdded); n != 3 {
		t.Fatalf("%d held.added records, want 3", n)
	}

	// A blob moved onto another record by someone with database access
	// does not open there: the AAD binds it to its record.
	if b.Exec != nil {
		b.Exec(t, s, "UPDATE held_credentials SET sealed = (SELECT sealed FROM held_credentials WHERE id = '"+dev.ID+"') WHERE id = '"+h.ID+"'")
		swapped := must(s.GetHeldCredential(ctx(t), h.ID))(t)
		if _, err := k.Open(swapped.Sealed, swapped.AAD()); aicred.KindOf(err) != aicred.ErrUnauthorized {
			t.Fatalf("swapped blob: %v", err)
		}
	}
	verifyOK(t, s)
}

func testRotateHeld(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(11)
	oldSec, newSec := g.Secret(), g.Secret()
	h := putHeld(t, s, k, oldSec)

	next := &aicred.HeldCredential{ID: h.ID, Fingerprint: newSec.Fingerprint(), Redacted: newSec.Redacted(), ExpiresAt: epoch.Add(400 * 24 * time.Hour)}
	var err error
	if next.Sealed, next.KeyID, err = k.Seal(newSec, next.AAD()); err != nil {
		t.Fatal(err)
	}
	got := must(s.RotateHeld(ctx(t), next))(t)
	if got.Fingerprint != newSec.Fingerprint() || got.RotatedAt.IsZero() || !got.CreatedAt.Equal(h.CreatedAt) ||
		got.Provider != h.Provider || !maps.Equal(got.Labels, h.Labels) || !got.ExpiresAt.Equal(next.ExpiresAt) {
		t.Fatalf("rotated: %+v", got)
	}
	stored := must(s.GetHeldCredential(ctx(t), h.ID))(t)
	sameHeld(t, stored, got)
	plain, err := k.Open(stored.Sealed, stored.AAD())
	if err != nil || plain.Reveal() != newSec.Reveal() {
		t.Fatalf("rotated blob: %v", err)
	}

	oldC := must(s.GetCredential(ctx(t), oldSec.Fingerprint()))(t)
	newC := must(s.GetCredential(ctx(t), newSec.Fingerprint()))(t)
	if oldC.Held || !oldC.RotatedAt.Equal(got.RotatedAt) {
		t.Fatalf("old credential after rotation: %+v", oldC.Credential)
	}
	if !newC.Held || !newC.CreatedAt.Equal(got.RotatedAt) || !newC.ExpiresAt.Equal(next.ExpiresAt) {
		t.Fatalf("new credential after rotation: %+v", newC.Credential)
	}
	evs := allAudit(t, s)
	last := evs[len(evs)-1]
	if last.Action != aicred.ActionHeldRotated || last.Subject != h.ID || last.Data["old_fingerprint"] != string(oldSec.Fingerprint()) ||
		last.Data["fingerprint"] != string(newSec.Fingerprint()) {
		t.Fatalf("rotation audit: %+v", last)
	}

	missing := *next
	missing.ID = "hc_missing"
	_, err = s.RotateHeld(ctx(t), &missing)
	wantKind(t, err, aicred.ErrNotFound)
	_, err = s.RotateHeld(ctx(t), next) // the same secret again
	wantKind(t, err, aicred.ErrInvalid)
	if n := len(allAudit(t, s)); n != len(evs) {
		t.Fatal("failed rotations wrote audit records")
	}
	verifyOK(t, s)
}

func testRewrapHeld(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(12)
	secrets := map[string]aicred.Secret{}
	for range 5 {
		sec := g.Secret()
		h := putHeld(t, s, k, sec)
		secrets[h.ID] = sec
	}
	oldID := k.Primary()
	newID, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	rewrap := func(h *aicred.HeldCredential) ([]byte, string, error) { return k.Rewrap(h.Sealed, h.AAD()) }

	// A failing rewrap changes nothing.
	calls := 0
	_, err = s.RewrapHeld(ctx(t), func(h *aicred.HeldCredential) ([]byte, string, error) {
		if calls++; calls == 3 {
			return nil, "", aicred.Errorf(aicred.ErrUnauthorized, "boom")
		}
		return rewrap(h)
	})
	wantKind(t, err, aicred.ErrUnauthorized)
	if n := len(must(s.ListHeldCredentials(ctx(t), aicred.HeldFilter{KeyID: oldID}))(t)); n != 5 {
		t.Fatalf("failed rewrap moved %d records", 5-n)
	}
	before := len(allAudit(t, s))

	n := must(s.RewrapHeld(ctx(t), rewrap))(t)
	if n != 5 {
		t.Fatalf("rewrapped %d, want 5", n)
	}
	for _, h := range must(s.ListHeldCredentials(ctx(t), aicred.HeldFilter{}))(t) {
		if h.KeyID != newID {
			t.Fatalf("%s still under %s", h.ID, h.KeyID)
		}
		if kid, _ := seal.KeyIDOf(h.Sealed); kid != newID {
			t.Fatalf("%s: blob under %s", h.ID, kid)
		}
		plain, err := k.Open(h.Sealed, h.AAD())
		if err != nil || plain.Reveal() != secrets[h.ID].Reveal() {
			t.Fatalf("%s after rewrap: %v", h.ID, err)
		}
	}
	evs := allAudit(t, s)[before:]
	if len(evs) != 1 || evs[0].Action != aicred.ActionMasterKeyRotated || evs[0].Data["count"] != "5" ||
		evs[0].Data["from"] != oldID || evs[0].Data["to"] != newID {
		t.Fatalf("rotation audit: %+v", evs)
	}
	// Retiring the old key is safe now.
	if err := k.Retire(oldID); err != nil {
		t.Fatal(err)
	}
	// Nothing left to do: no record changes, the rotation is still logged.
	if n := must(s.RewrapHeld(ctx(t), rewrap))(t); n != 0 {
		t.Fatalf("second rewrap changed %d", n)
	}
	if acts := auditActions(t, s); count(acts, aicred.ActionMasterKeyRotated) != 2 {
		t.Fatalf("actions %v", acts)
	}
	_, err = s.RewrapHeld(ctx(t), func(*aicred.HeldCredential) ([]byte, string, error) { return nil, "", errors.New("plain error") })
	if err == nil {
		t.Fatal("rewrap error swallowed")
	}
	verifyOK(t, s)
}
