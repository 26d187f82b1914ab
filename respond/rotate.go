package respond

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Rotate starts a rotation of held credential heldID through its kind's
// admin API and runs it to the end. admin names the held credential that
// authenticates the admin API (of the kind's AdminKind); leave it empty
// for a kind whose credentials manage themselves (SelfAdmin). On error
// the rotation stays recorded in the state it reached, with the error:
// Resume continues it, Rollback undoes it while the old credential is
// still valid. The returned rotation is the last recorded state (nil
// when nothing was recorded).
func (x *Responder) Rotate(ctx context.Context, heldID, admin string) (*aicred.Rotation, error) {
	st := x.o.Store
	h, err := st.GetHeldCredential(ctx, heldID)
	if err != nil {
		return nil, err
	}
	k, err := x.kind(h)
	if err != nil {
		return nil, err
	}
	rot := k.Rotation
	if rot == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s has no admin API rotation: rotate it at %s, then 'aicred credential replace %s'",
			k.Describe(), revokeURL(k), h.ID)
	}
	switch {
	case rot.SelfAdmin && admin != "":
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s manages itself: no --admin credential is needed", k.Describe())
	case !rot.SelfAdmin && admin == "":
		return nil, aicred.Errorf(aicred.ErrInvalid, "rotating %s needs an admin credential of kind %s held by aicred: give --admin HELD_ID", k.Describe(), rot.AdminKind)
	case !rot.SelfAdmin:
		a, err := st.GetHeldCredential(ctx, admin)
		if err != nil {
			return nil, fmt.Errorf("admin credential: %w", err)
		}
		if a.Provider+"/"+a.Kind != rot.AdminKind {
			return nil, aicred.Errorf(aicred.ErrInvalid, "admin credential %s is a %s/%s, not a %s", a.ID, a.Provider, a.Kind, rot.AdminKind)
		}
	}
	r := &aicred.Rotation{
		ID: aicred.NewRotationID(), HeldID: h.ID, Provider: h.Provider, Kind: h.Kind, AdminHeldID: admin,
		OldFingerprint: h.Fingerprint, OldRedacted: h.Redacted, OldExpiresAt: h.ExpiresAt,
		OldSealed: h.Sealed, OldKeyID: h.KeyID,
	}
	// The provider's id of the current secret is known when aicred made
	// it, in the last rotation.
	if prev, err := st.ListRotations(ctx, aicred.RotationFilter{HeldID: h.ID, Limit: 1}); err == nil && len(prev) == 1 &&
		prev[0].State == aicred.RotationDone && prev[0].NewFingerprint == h.Fingerprint {
		r.OldProviderID, r.OldAttrs = prev[0].NewProviderID, prev[0].NewAttrs
	}
	if err := st.StartRotation(ctx, r); err != nil {
		return nil, err
	}
	if err := x.after(r.State); err != nil {
		return r, err
	}
	return x.run(ctx, r, k)
}

// Resume continues rotation id from its recorded state: forward, or a
// rollback in progress.
func (x *Responder) Resume(ctx context.Context, id string) (*aicred.Rotation, error) {
	r, k, err := x.load(ctx, id)
	if err != nil {
		return r, err
	}
	if r.State.Terminal() {
		return r, nil
	}
	if r.State == aicred.RotationRollingBack {
		return x.rollback(ctx, r, k)
	}
	return x.run(ctx, r, k)
}

// Rollback undoes rotation id while its old credential is still valid:
// the held credential gets the old secret back, every gateway drops the
// new one, and the new credential is revoked at the provider. A rotation
// that revoked the old credential already cannot be rolled back (resume
// it instead).
func (x *Responder) Rollback(ctx context.Context, id string) (*aicred.Rotation, error) {
	r, k, err := x.load(ctx, id)
	if err != nil {
		return r, err
	}
	switch {
	case r.State == aicred.RotationRolledBack:
		return r, nil
	case !r.State.CanRollBack():
		return r, aicred.Errorf(aicred.ErrConflict, "rotation %s is %s: the old credential is revoked, so it cannot be rolled back; resume it", r.ID, r.State)
	case r.State != aicred.RotationRollingBack:
		step := &aicred.RotationStep{To: aicred.RotationRollingBack, Detail: "rollback from " + string(r.State)}
		// Keep the new secret sealed in the rotation while the held
		// credential gives it back: revoking it needs it.
		if len(r.NewSealed) == 0 && r.NewFingerprint != "" {
			h, err := x.o.Store.GetHeldCredential(ctx, r.HeldID)
			if err != nil {
				return r, err
			}
			if h.Fingerprint == r.NewFingerprint {
				s, err := x.open(h)
				if err != nil {
					return r, err
				}
				step.NewSealed, step.NewKeyID, err = x.o.Sealer.Seal(s, r.NewAAD())
				if err != nil {
					return r, fmt.Errorf("rotation %s: seal the new secret: %w", r.ID, err)
				}
				step.NewFingerprint = r.NewFingerprint
			}
		}
		if r, err = x.o.Store.AdvanceRotation(ctx, r.ID, r.State, step); err != nil {
			return r, err
		}
		if err := x.after(r.State); err != nil {
			return r, err
		}
	}
	return x.rollback(ctx, r, k)
}

// Active returns the unfinished rotation of held credential heldID.
// Errors: ErrNotFound.
func (x *Responder) Active(ctx context.Context, heldID string) (*aicred.Rotation, error) {
	rs, err := x.o.Store.ListRotations(ctx, aicred.RotationFilter{HeldID: heldID, Active: true})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, aicred.Errorf(aicred.ErrNotFound, "held credential %s has no unfinished rotation", aicred.StorableText(heldID))
	}
	return &rs[0], nil
}

func (x *Responder) load(ctx context.Context, id string) (*aicred.Rotation, *provider.Kind, error) {
	r, err := x.o.Store.GetRotation(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	k, ok := x.o.Lookup(r.Provider, r.Kind)
	if !ok || k == nil || k.Rotation == nil {
		return r, nil, aicred.Errorf(aicred.ErrInvalid, "rotation %s: kind %s/%s has no admin API rotation in this build", r.ID, r.Provider, r.Kind)
	}
	return r, k, nil
}

func (x *Responder) after(s aicred.RotationState) error {
	if x.afterStep != nil {
		return x.afterStep(s)
	}
	return nil
}

// run takes the steps from r's state to done.
func (x *Responder) run(ctx context.Context, r *aicred.Rotation, k *provider.Kind) (*aicred.Rotation, error) {
	for !r.State.Terminal() {
		if err := ctx.Err(); err != nil {
			return r, fmt.Errorf("rotation %s stopped at %s: %w", r.ID, r.State, err)
		}
		step, err := x.step(ctx, r, k)
		if err != nil {
			err = fmt.Errorf("rotation %s, step after %s: %w", r.ID, r.State, err)
			x.o.Log.Warn("rotation step failed", "rotation", r.ID, "state", r.State, "err", err)
			// Record the failure where it happened (best effort: the store
			// may be what failed).
			if rec, rerr := x.o.Store.AdvanceRotation(context.WithoutCancel(ctx), r.ID, r.State,
				&aicred.RotationStep{To: r.State, Error: err.Error()}); rerr == nil {
				r = rec
			}
			return r, err
		}
		from := r.State
		if r, err = x.o.Store.AdvanceRotation(ctx, r.ID, from, step); err != nil {
			return r, err
		}
		x.o.Log.Info("rotation step", "rotation", r.ID, "from", from, "to", r.State)
		if err := x.after(r.State); err != nil {
			return r, err
		}
	}
	return r, nil
}

// step performs the work that leads out of r's state and returns what
// to record.
func (x *Responder) step(ctx context.Context, r *aicred.Rotation, k *provider.Kind) (*aicred.RotationStep, error) {
	st, rot := x.o.Store, k.Rotation
	base := x.base(r.Provider, r.Kind, rot.BaseURL)
	switch r.State {
	case aicred.RotationStarted:
		old, err := x.o.Sealer.Open(r.OldSealed, r.OldAAD())
		if err != nil {
			return nil, fmt.Errorf("open the old secret: %w", err)
		}
		admin, err := x.adminSecret(ctx, r, old)
		if err != nil {
			return nil, err
		}
		rep, err := rot.Create(ctx, x.o.Client, base, admin, provider.RotationTarget{Secret: old, ID: r.OldProviderID, Attrs: r.OldAttrs})
		if err != nil {
			return nil, fmt.Errorf("create the new credential at the provider: %w", scrub(err, old, admin))
		}
		if rep == nil || rep.Secret.IsZero() {
			return nil, errors.New("create the new credential at the provider: no secret in the answer")
		}
		if rep.Secret.Fingerprint() == r.OldFingerprint {
			return nil, errors.New("create the new credential at the provider: it answered with the old secret")
		}
		next := *r
		next.NewFingerprint = rep.Secret.Fingerprint()
		step := &aicred.RotationStep{To: aicred.RotationCreated, NewFingerprint: next.NewFingerprint, NewRedacted: rep.Secret.Redacted(),
			NewProviderID: rep.ID, NewAttrs: rep.Attrs, Detail: "created at " + base}
		if step.NewSealed, step.NewKeyID, err = x.o.Sealer.Seal(rep.Secret, next.NewAAD()); err != nil {
			return nil, fmt.Errorf("seal the new secret: %w", err)
		}
		return step, nil

	case aicred.RotationCreated:
		h, err := st.GetHeldCredential(ctx, r.HeldID)
		if err != nil {
			return nil, err
		}
		done := &aicred.RotationStep{To: aicred.RotationSealed, ClearNewSealed: true, Detail: "held credential holds the new secret"}
		switch h.Fingerprint {
		case r.NewFingerprint: // replaced before a crash
			return done, nil
		case r.OldFingerprint:
		default:
			return nil, aicred.Errorf(aicred.ErrConflict, "held credential %s changed secret during the rotation (now %s)", h.ID, h.Fingerprint)
		}
		s, err := x.o.Sealer.Open(r.NewSealed, r.NewAAD())
		if err != nil {
			return nil, fmt.Errorf("open the new secret: %w", err)
		}
		next := &aicred.HeldCredential{ID: h.ID, Fingerprint: r.NewFingerprint, Redacted: r.NewRedacted}
		if next.Sealed, next.KeyID, err = x.o.Sealer.Seal(s, next.AAD()); err != nil {
			return nil, fmt.Errorf("seal the new secret: %w", err)
		}
		if _, err := st.RotateHeld(ctx, next); err != nil {
			return nil, err
		}
		return done, nil

	case aicred.RotationSealed:
		h, err := st.GetHeldCredential(ctx, r.HeldID)
		if err != nil {
			return nil, err
		}
		s, err := x.open(h)
		if err != nil {
			return nil, err
		}
		c := x.check(ctx, h, s, aicred.Live, x.o.Checks)
		switch {
		case c.State == aicred.NotChecked:
		case !matches(c.State, aicred.Live):
			return nil, fmt.Errorf("the new credential does not work: %s after %d check(s) (%s); roll back with --rollback", c.State, c.Checks, c.Detail)
		}
		return &aicred.RotationStep{To: aicred.RotationVerifiedNew, Detail: "new credential liveness: " + checkText(c)}, nil

	case aicred.RotationVerifiedNew:
		rv := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: r.HeldID, Reason: "rotation " + r.ID + ": held credential rotated"}
		if err := st.Revoke(ctx, rv); err != nil {
			return nil, fmt.Errorf("tell the gateways: %w", err)
		}
		return &aicred.RotationStep{To: aicred.RotationSwitched, Detail: "gateway key caches flushed by revocation " + strconv.FormatInt(rv.Seq, 10)}, nil

	case aicred.RotationSwitched:
		old, err := x.o.Sealer.Open(r.OldSealed, r.OldAAD())
		if err != nil {
			return nil, fmt.Errorf("open the old secret: %w", err)
		}
		admin, err := x.adminSecret(ctx, r, aicred.Secret{})
		if err != nil {
			return nil, err
		}
		if err := rot.Revoke(ctx, x.o.Client, base, admin, provider.RotationTarget{Secret: old, ID: r.OldProviderID, Attrs: r.OldAttrs}); err != nil {
			return nil, fmt.Errorf("revoke the old credential at the provider: %w", scrub(err, old, admin))
		}
		return &aicred.RotationStep{To: aicred.RotationRevokedOld, Detail: "old credential revoked at " + base}, nil

	case aicred.RotationRevokedOld:
		old, err := x.o.Sealer.Open(r.OldSealed, r.OldAAD())
		if err != nil {
			return nil, fmt.Errorf("open the old secret: %w", err)
		}
		h := &aicred.HeldCredential{ID: r.HeldID, Provider: r.Provider, Kind: r.Kind}
		c := x.check(ctx, h, old, aicred.Dead, x.o.Checks)
		switch c.State {
		case aicred.Dead, aicred.NotChecked:
		default:
			return nil, fmt.Errorf("the old credential still answers %s after %d check(s) (%s); resume to check again, or revoke it at %s",
				c.State, c.Checks, c.Detail, revokeURL(k))
		}
		return &aicred.RotationStep{To: aicred.RotationVerifiedOldDead, Detail: "old credential liveness: " + checkText(c)}, nil

	case aicred.RotationVerifiedOldDead:
		return &aicred.RotationStep{To: aicred.RotationDone, ClearOldSealed: true, ClearNewSealed: true}, nil
	}
	return nil, aicred.Errorf(aicred.ErrInternal, "no step from state %s", r.State)
}

// adminSecret returns the secret that authenticates the admin API: the
// admin credential, or for a self-managed kind self when given, else the
// held credential's current secret (the new one once it is in place).
func (x *Responder) adminSecret(ctx context.Context, r *aicred.Rotation, self aicred.Secret) (aicred.Secret, error) {
	id := r.AdminHeldID
	if id == "" && !self.IsZero() {
		return self, nil
	}
	if id == "" {
		id = r.HeldID
	}
	h, err := x.o.Store.GetHeldCredential(ctx, id)
	if err != nil {
		return aicred.Secret{}, fmt.Errorf("admin credential: %w", err)
	}
	return x.open(h)
}

// rollback takes a rotation in state rolling_back to rolled_back: the old
// secret back in the held credential, every gateway told, the new
// credential revoked at the provider. Each part is safe to repeat.
func (x *Responder) rollback(ctx context.Context, r *aicred.Rotation, k *provider.Kind) (*aicred.Rotation, error) {
	st, rot := x.o.Store, k.Rotation
	fail := func(err error) (*aicred.Rotation, error) {
		err = fmt.Errorf("rotation %s, rollback: %w", r.ID, err)
		if rec, rerr := st.AdvanceRotation(context.WithoutCancel(ctx), r.ID, r.State, &aicred.RotationStep{To: r.State, Error: err.Error()}); rerr == nil {
			r = rec
		}
		return r, err
	}
	h, err := st.GetHeldCredential(ctx, r.HeldID)
	if err != nil {
		return fail(err)
	}
	detail := ""
	if h.Fingerprint != r.OldFingerprint {
		if h.Fingerprint != r.NewFingerprint {
			return fail(aicred.Errorf(aicred.ErrConflict, "held credential %s changed secret during the rotation (now %s)", h.ID, h.Fingerprint))
		}
		back := &aicred.HeldCredential{ID: h.ID, Fingerprint: r.OldFingerprint, Redacted: r.OldRedacted, ExpiresAt: r.OldExpiresAt,
			Sealed: r.OldSealed, KeyID: r.OldKeyID}
		if _, err := st.RotateHeld(ctx, back); err != nil {
			return fail(err)
		}
		detail = "old secret restored; "
	}
	rv := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: r.HeldID, Reason: "rotation " + r.ID + " rolled back"}
	if err := st.Revoke(ctx, rv); err != nil {
		return fail(fmt.Errorf("tell the gateways: %w", err))
	}
	detail += "gateway key caches flushed by revocation " + strconv.FormatInt(rv.Seq, 10)
	if len(r.NewSealed) > 0 {
		s, err := x.o.Sealer.Open(r.NewSealed, r.NewAAD())
		if err != nil {
			return fail(fmt.Errorf("open the new secret: %w", err))
		}
		old, err := x.o.Sealer.Open(r.OldSealed, r.OldAAD())
		if err != nil {
			return fail(fmt.Errorf("open the old secret: %w", err))
		}
		admin, err := x.adminSecret(ctx, r, old)
		if err != nil {
			return fail(err)
		}
		base := x.base(r.Provider, r.Kind, rot.BaseURL)
		if err := rot.Revoke(ctx, x.o.Client, base, admin, provider.RotationTarget{Secret: s, ID: r.NewProviderID, Attrs: r.NewAttrs}); err != nil {
			return fail(fmt.Errorf("revoke the new credential at the provider: %w", scrub(err, s, admin, old)))
		}
		detail += "; new credential revoked at " + base
	}
	r, err = st.AdvanceRotation(ctx, r.ID, aicred.RotationRollingBack, &aicred.RotationStep{To: aicred.RotationRolledBack,
		ClearNewSealed: true, ClearOldSealed: true, Detail: detail})
	if err != nil {
		return r, err
	}
	return r, x.after(r.State)
}

func checkText(c Check) string {
	s := string(c.State)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s + ", " + strconv.Itoa(c.Checks) + " check(s)"
}

func revokeURL(k *provider.Kind) string {
	if k.RevokeURL != "" {
		return k.RevokeURL
	}
	if p := k.Provider(); p != nil && p.RevokeURL != "" {
		return p.RevokeURL
	}
	return "the provider's console"
}

// scrub removes secret material from a provider call's error (a provider
// file's error should hold none; this makes sure).
func scrub(err error, secrets ...aicred.Secret) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if !s.IsZero() && len(s.Reveal()) >= 8 {
			clean = replaceAll(clean, s.Reveal(), s.Redacted())
		}
	}
	if clean == msg {
		return err
	}
	return aicred.Errorf(aicred.KindOf(err), "%s", clean)
}
