package respond

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

// env is a store, a keyring, a provider admin API and a Responder.
type env struct {
	t     testing.TB
	st    aicred.Store
	path  string // the SQLite file, "" on PostgreSQL
	ring  *seal.Keyring
	api   *adminAPI
	x     *Responder
	old   aicred.Secret // the held key
	admin aicred.Secret // the admin key
	held  *aicred.HeldCredential
	adm   *aicred.HeldCredential
	// watched collects revocations delivered to a watcher.
	watched chan aicred.Revocation
}

func sqliteStore(t testing.TB) (aicred.Store, string) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func newEnv(t testing.TB, st aicred.Store, path string, selfAdmin bool) *env {
	e := &env{t: t, st: st, path: path, api: newAdminAPI(t, 1), watched: make(chan aicred.Revocation, 100)}
	var err error
	if e.ring, _, err = seal.OpenFile(filepath.Join(t.TempDir(), "master.key")); err != nil {
		t.Fatal(err)
	}
	project := "proj_1"
	if selfAdmin {
		project = "self"
	}
	e.old = e.api.newKey(project)
	e.held = e.put("hc_main", "api-key", e.old)
	if !selfAdmin {
		e.admin = e.api.newAdmin()
		e.adm = e.put("hc_admin", "admin-key", e.admin)
	}
	e.x, err = New(Options{Store: st, Sealer: e.ring, BaseURLs: map[string]string{"testprov": e.api.srv.URL},
		Lookup: testKinds(e.api, testRotation(selfAdmin)), Checks: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := st.WatchRevocations(ctx, func(r aicred.Revocation) { e.watched <- r }); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) put(id, kind string, s aicred.Secret) *aicred.HeldCredential {
	h := &aicred.HeldCredential{ID: id, Provider: "testprov", Kind: kind, Fingerprint: s.Fingerprint(), Redacted: s.Redacted()}
	var err error
	if h.Sealed, h.KeyID, err = e.ring.Seal(s, h.AAD()); err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.PutHeldCredential(context.Background(), h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// heldSecret opens what the store holds for the main credential.
func (e *env) heldSecret() aicred.Secret {
	h, err := e.st.GetHeldCredential(context.Background(), e.held.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.ring.Open(h.Sealed, h.AAD())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// rotated checks the end of a completed rotation: the held credential
// holds a new key the provider accepts, the old key is dead, exactly one
// key was made, the rotation is done with no sealed blob left, the
// gateways were told, and the audit chain holds.
func (e *env) rotated(r *aicred.Rotation) aicred.Secret {
	e.t.Helper()
	ctx := context.Background()
	got, err := e.st.GetRotation(ctx, r.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if got.State != aicred.RotationDone || got.OldSealed != nil || got.NewSealed != nil || got.Error != "" {
		e.t.Fatalf("rotation: %+v", got)
	}
	s := e.heldSecret()
	if s.Reveal() == e.old.Reveal() || s.Fingerprint() != got.NewFingerprint || !e.api.live(s) {
		e.t.Fatal("the held credential does not hold the new, live key")
	}
	if e.api.live(e.old) {
		e.t.Fatal("the old key is live")
	}
	if n := e.api.createdCount(); n != 1 {
		e.t.Fatalf("%d keys created at the provider", n)
	}
	e.flushed()
	e.chain()
	return s
}

// flushed waits for a held-key revocation of the main credential.
func (e *env) flushed() {
	e.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-e.watched:
			if r.By == aicred.RevokeHeldKey && r.Value == e.held.ID && r.Grants == 0 {
				return
			}
		case <-deadline:
			e.t.Fatal("no held-key revocation reached the watcher")
		}
	}
}

func (e *env) chain() {
	e.t.Helper()
	v, err := e.st.VerifyAudit(context.Background())
	if err != nil || !v.OK() {
		e.t.Fatalf("audit chain: %+v %v", v, err)
	}
}

func TestRotate(t *testing.T) {
	for _, self := range []bool{false, true} {
		t.Run(map[bool]string{false: "admin", true: "self"}[self], func(t *testing.T) {
			st, path := sqliteStore(t)
			e := newEnv(t, st, path, self)
			admin := ""
			if !self {
				admin = e.adm.ID
			}
			r, err := e.x.Rotate(context.Background(), e.held.ID, admin)
			if err != nil {
				t.Fatal(err)
			}
			e.rotated(r)
			// Every step has its audit record, in order.
			evs, err := st.ListAudit(context.Background(), 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var steps []string
			for _, ev := range evs {
				if ev.Action == aicred.ActionRotationStep && ev.Data["rotation"] == r.ID {
					steps = append(steps, ev.Data["to"])
				}
			}
			want := "created sealed verified_new switched revoked_old verified_old_dead done"
			if strings.Join(steps, " ") != want {
				t.Fatalf("steps %v", steps)
			}
			// A second rotation knows the provider's id of the key it made.
			r2, err := e.x.Rotate(context.Background(), e.held.ID, admin)
			if err != nil {
				t.Fatal(err)
			}
			if r2.OldProviderID != r.NewProviderID || r2.OldProviderID == "" {
				t.Fatalf("second rotation's old id %q, first's new id %q", r2.OldProviderID, r.NewProviderID)
			}
		})
	}
}

var errCrash = errors.New("crash")

// A crash after each step: resume completes the rotation, with one key
// created and the old one dead.
func TestResumeAfterCrash(t *testing.T) {
	for _, at := range []aicred.RotationState{aicred.RotationStarted, aicred.RotationCreated, aicred.RotationSealed,
		aicred.RotationVerifiedNew, aicred.RotationSwitched, aicred.RotationRevokedOld, aicred.RotationVerifiedOldDead} {
		for _, how := range []string{"error", "cancel"} {
			t.Run(string(at)+"/"+how, func(t *testing.T) {
				st, path := sqliteStore(t)
				e := newEnv(t, st, path, false)
				r := crash(t, e, at, how)
				if r.State != at {
					t.Fatalf("crashed in %s, recorded %s", at, r.State)
				}
				e.x.afterStep = nil
				got, err := e.x.Resume(context.Background(), r.ID)
				if err != nil {
					t.Fatal(err)
				}
				e.rotated(got)
			})
		}
	}
}

// crash runs a rotation that stops right after recording state at.
func crash(t *testing.T, e *env, at aicred.RotationState, how string) *aicred.Rotation {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.x.afterStep = func(s aicred.RotationState) error {
		if s != at {
			return nil
		}
		if how == "cancel" {
			cancel()
			return nil
		}
		return errCrash
	}
	r, err := e.x.Rotate(ctx, e.held.ID, e.adm.ID)
	if err == nil {
		t.Fatal("the rotation did not stop")
	}
	if how == "error" && !errors.Is(err, errCrash) || how == "cancel" && !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped with %v", err)
	}
	if r == nil {
		t.Fatal("no rotation returned")
	}
	got, gerr := e.st.GetRotation(context.Background(), r.ID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	return got
}

// A crash after each step before the old key is revoked: rollback puts the
// old key back in place and revokes the new one. After that, rollback is
// refused and the rotation resumes instead.
func TestRollbackAfterCrash(t *testing.T) {
	for _, at := range []aicred.RotationState{aicred.RotationStarted, aicred.RotationCreated, aicred.RotationSealed,
		aicred.RotationVerifiedNew, aicred.RotationSwitched, aicred.RotationRevokedOld, aicred.RotationVerifiedOldDead} {
		t.Run(string(at), func(t *testing.T) {
			st, path := sqliteStore(t)
			e := newEnv(t, st, path, false)
			r := crash(t, e, at, "error")
			e.x.afterStep = nil
			got, err := e.x.Rollback(context.Background(), r.ID)
			if !at.CanRollBack() {
				if aicred.KindOf(err) != aicred.ErrConflict {
					t.Fatalf("rollback after %s: %v", at, err)
				}
				if got, err = e.x.Resume(context.Background(), r.ID); err != nil {
					t.Fatal(err)
				}
				e.rotated(got)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.State != aicred.RotationRolledBack || got.OldSealed != nil || got.NewSealed != nil {
				t.Fatalf("rolled back: %+v", got)
			}
			if s := e.heldSecret(); s.Reveal() != e.old.Reveal() {
				t.Fatal("the old key is not back in place")
			}
			if !e.api.live(e.old) {
				t.Fatal("the old key is dead")
			}
			if got.NewFingerprint != "" {
				e.api.mu.Lock()
				for v, k := range e.api.keys {
					if aicred.NewSecret(v).Fingerprint() == got.NewFingerprint && !k.revoked {
						t.Error("the new key is live after the rollback")
					}
				}
				e.api.mu.Unlock()
			}
			e.flushed()
			e.chain()
			// Rolled back: resume is a no-op, a new rotation may start.
			if again, err := e.x.Resume(context.Background(), r.ID); err != nil || again.State != aicred.RotationRolledBack {
				t.Fatalf("resume after rollback: %v %v", again, err)
			}
			if _, err := e.x.Rotate(context.Background(), e.held.ID, e.adm.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A crash in the middle of a rollback resumes the rollback.
func TestRollbackCrashResumes(t *testing.T) {
	st, path := sqliteStore(t)
	e := newEnv(t, st, path, false)
	r := crash(t, e, aicred.RotationSwitched, "error")
	e.x.afterStep = func(s aicred.RotationState) error {
		if s == aicred.RotationRollingBack {
			return errCrash
		}
		return nil
	}
	if _, err := e.x.Rollback(context.Background(), r.ID); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	e.x.afterStep = nil
	got, err := e.x.Resume(context.Background(), r.ID)
	if err != nil || got.State != aicred.RotationRolledBack {
		t.Fatalf("%+v %v", got, err)
	}
	if s := e.heldSecret(); s.Reveal() != e.old.Reveal() || !e.api.live(e.old) {
		t.Fatal("old key not restored")
	}
}

// The provider fails: the rotation records the error where it stopped,
// changes nothing else, and resumes once the provider is back.
func TestProviderFailures(t *testing.T) {
	t.Run("create fails", func(t *testing.T) {
		st, path := sqliteStore(t)
		e := newEnv(t, st, path, false)
		e.api.failCreate = 1
		r, err := e.x.Rotate(context.Background(), e.held.ID, e.adm.ID)
		if err == nil || r.State != aicred.RotationStarted || !strings.Contains(r.Error, "status 500") {
			t.Fatalf("%+v %v", r, err)
		}
		if s := e.heldSecret(); s.Reveal() != e.old.Reveal() {
			t.Fatal("held credential changed")
		}
		got, err := e.x.Resume(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.rotated(got)
	})
	t.Run("old key stays live", func(t *testing.T) {
		st, path := sqliteStore(t)
		e := newEnv(t, st, path, false)
		e.api.ignoreRevoke = true
		r, err := e.x.Rotate(context.Background(), e.held.ID, e.adm.ID)
		if err == nil || r.State != aicred.RotationRevokedOld || !strings.Contains(err.Error(), "still answers live after 3 check(s)") ||
			!strings.Contains(err.Error(), "https://console.testprov.example/keys") {
			t.Fatalf("%+v %v", r, err)
		}
		e.api.mu.Lock()
		e.api.ignoreRevoke = false
		e.api.mu.Unlock()
		// The old key is revoked through the API once more (as a person
		// would after reading the error), then resuming checks again.
		if _, err := e.x.Rollback(context.Background(), r.ID); aicred.KindOf(err) != aicred.ErrConflict {
			t.Fatalf("rollback with the old key revoked: %v", err)
		}
		if err := testRotation(false).Revoke(context.Background(), e.api.srv.Client(), e.api.srv.URL, e.admin, provider.RotationTarget{Secret: e.old}); err != nil {
			t.Fatal(err)
		}
		got, err := e.x.Resume(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.rotated(got)
	})
	t.Run("wrong admin", func(t *testing.T) {
		st, path := sqliteStore(t)
		e := newEnv(t, st, path, false)
		if _, err := e.x.Rotate(context.Background(), e.held.ID, ""); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Fatal(err)
		}
		other := e.put("hc_other", "api-key", e.api.newKey("proj_2"))
		if _, err := e.x.Rotate(context.Background(), e.held.ID, other.ID); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Fatal(err)
		}
		if _, err := e.x.Rotate(context.Background(), e.held.ID, "hc_missing"); aicred.KindOf(err) != aicred.ErrNotFound {
			t.Fatal(err)
		}
		if rs, _ := st.ListRotations(context.Background(), aicred.RotationFilter{}); len(rs) != 0 {
			t.Fatal("refused rotations were recorded")
		}
	})
	t.Run("one at a time", func(t *testing.T) {
		st, path := sqliteStore(t)
		e := newEnv(t, st, path, false)
		crash(t, e, aicred.RotationCreated, "error")
		e.x.afterStep = nil
		if _, err := e.x.Rotate(context.Background(), e.held.ID, e.adm.ID); aicred.KindOf(err) != aicred.ErrConflict {
			t.Fatal(err)
		}
		act, err := e.x.Active(context.Background(), e.held.ID)
		if err != nil || act.State != aicred.RotationCreated {
			t.Fatal(act, err)
		}
	})
}

// No secret reaches the database, the audit log, errors or results, at
// any point of a rotation (including with a crash between steps).
func TestRotationCanary(t *testing.T) {
	st, path := sqliteStore(t)
	e := newEnv(t, st, path, false)
	r := crash(t, e, aicred.RotationCreated, "error")
	var texts []string
	e.x.afterStep = nil
	got, err := e.x.Resume(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	newKey := e.rotated(got)
	// A failing rotation's errors too.
	e.api.ignoreRevoke = true
	r2, err2 := e.x.Rotate(context.Background(), e.held.ID, e.adm.ID)
	texts = append(texts, err2.Error(), r2.Error)
	evs, err := st.ListAudit(context.Background(), 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		texts = append(texts, ev.Action, ev.Subject, ev.Actor)
		for k, v := range ev.Data {
			texts = append(texts, k, v)
		}
	}
	st.Close()
	var dump []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, _ := os.ReadFile(path + suffix)
		dump = append(dump, b...)
	}
	all := strings.Join(texts, "\n")
	for _, s := range []aicred.Secret{e.old, newKey, e.admin, e.heldSecretAfterClose(newKey)} {
		if s.IsZero() {
			continue
		}
		if strings.Contains(all, s.Reveal()) || bytes.Contains(dump, []byte(s.Reveal())) {
			t.Fatal("a secret was written in the clear")
		}
	}
}

// heldSecretAfterClose returns the provider's newest key (the second
// rotation's), read from the provider: the store is closed.
func (e *env) heldSecretAfterClose(skip aicred.Secret) aicred.Secret {
	e.api.mu.Lock()
	defer e.api.mu.Unlock()
	for v := range e.api.keys {
		if v != skip.Reveal() && v != e.old.Reveal() {
			return aicred.NewSecret(v)
		}
	}
	return aicred.Secret{}
}
