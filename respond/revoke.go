package respond

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Audit actions of Revoke and Replace.
const (
	ActionCredentialRevoked  = "credential.revoked"
	ActionCredentialReplaced = "credential.replaced"
)

// A RevokeResult tells what Revoke did.
type RevokeResult struct {
	HeldID      string             `json:"held_id"`
	Fingerprint aicred.Fingerprint `json:"fingerprint"`
	// AtProvider: the provider's admin API revoked it. Otherwise
	// RevokeURL is where a person must.
	AtProvider bool   `json:"at_provider"`
	RevokeURL  string `json:"revoke_url,omitempty"`
	// Grants is how many aicred tokens using the credential were revoked.
	Grants int `json:"grants"`
	// Liveness is the check that the credential is dead.
	Liveness Check `json:"liveness"`
}

// Revoke revokes held credential heldID: at the provider where its kind
// has an admin API (admin as for Rotate), and in aicred in every case:
// its status becomes revoked (no gateway injects it again) and every
// token that may use it is revoked (a revocation by credential, which
// also makes every gateway drop its cached key). Then a liveness
// check says whether it is dead. cause is recorded in the audit record
// (credential.revoked).
func (x *Responder) Revoke(ctx context.Context, heldID, admin, cause string) (*RevokeResult, error) {
	st := x.o.Store
	h, err := st.GetHeldCredential(ctx, heldID)
	if err != nil {
		return nil, err
	}
	k, err := x.kind(h)
	if err != nil {
		return nil, err
	}
	s, err := x.open(h)
	if err != nil {
		return nil, err
	}
	res := &RevokeResult{HeldID: h.ID, Fingerprint: h.Fingerprint, RevokeURL: revokeURL(k)}
	if rot := k.Rotation; rot != nil {
		var a aicred.Secret
		switch {
		case rot.SelfAdmin:
			a = s
		case admin == "":
			return nil, aicred.Errorf(aicred.ErrInvalid, "revoking %s at the provider needs an admin credential of kind %s held by aicred: give --admin HELD_ID", k.Describe(), rot.AdminKind)
		default:
			ah, err := st.GetHeldCredential(ctx, admin)
			if err != nil {
				return nil, fmt.Errorf("admin credential: %w", err)
			}
			if ah.Provider+"/"+ah.Kind != rot.AdminKind {
				return nil, aicred.Errorf(aicred.ErrInvalid, "admin credential %s is a %s/%s, not a %s", ah.ID, ah.Provider, ah.Kind, rot.AdminKind)
			}
			if a, err = x.open(ah); err != nil {
				return nil, err
			}
		}
		t := provider.RotationTarget{Secret: s}
		if prev, err := st.ListRotations(ctx, aicred.RotationFilter{HeldID: h.ID, Limit: 1}); err == nil && len(prev) == 1 &&
			prev[0].State == aicred.RotationDone && prev[0].NewFingerprint == h.Fingerprint {
			t.ID, t.Attrs = prev[0].NewProviderID, prev[0].NewAttrs
		}
		if err := rot.Revoke(ctx, x.o.Client, x.base(h.Provider, h.Kind, rot.BaseURL), a, t); err != nil {
			return nil, fmt.Errorf("revoke %s at the provider: %w", h.ID, scrub(err, s, a))
		}
		res.AtProvider = true
	}
	// No gateway injects it again, and new tokens naming it get nothing.
	if _, err := st.SetHeldStatus(ctx, h.ID, aicred.HeldRevoked, cause); err != nil {
		return res, fmt.Errorf("mark %s revoked: %w", h.ID, err)
	}
	rv := &aicred.Revocation{By: aicred.RevokeCredential, Value: h.ID, Reason: "credential revoked: " + cause}
	if err := st.Revoke(ctx, rv); err != nil {
		return nil, fmt.Errorf("revoke the tokens using %s: %w", h.ID, err)
	}
	res.Grants = rv.Grants
	attempts := x.o.Checks
	if !res.AtProvider {
		attempts = 1 // a person revokes it; one look says whether they have yet
	}
	res.Liveness = x.check(ctx, h, s, aicred.Dead, attempts)
	if _, err := st.AppendAudit(ctx, aicred.AuditEvent{Action: ActionCredentialRevoked, Subject: h.ID, Data: map[string]string{
		"held": h.ID, "fingerprint": string(h.Fingerprint), "provider": h.Provider, "kind": h.Kind, "cause": cause,
		"at_provider": strconv.FormatBool(res.AtProvider), "grants": strconv.Itoa(res.Grants),
		"liveness": string(res.Liveness.State), "revocation": strconv.FormatInt(rv.Seq, 10),
	}}); err != nil {
		return res, err
	}
	return res, nil
}

// A ReplaceResult tells what Replace did.
type ReplaceResult struct {
	HeldID         string             `json:"held_id"`
	OldFingerprint aicred.Fingerprint `json:"old_fingerprint"`
	NewFingerprint aicred.Fingerprint `json:"new_fingerprint"`
	New            Check              `json:"new"`
	Old            Check              `json:"old"`
	// OldLive: the old credential still works; revoke it at RevokeURL.
	OldLive   bool   `json:"old_live"`
	RevokeURL string `json:"revoke_url,omitempty"`
}

// Replace is a guided rotation for kinds without an admin API: a person
// made secret at the provider's console; Replace checks it works (a dead
// or unverifiable one is refused and nothing changes), seals it into held
// credential heldID, makes every gateway drop the old key, and checks
// whether the old one is dead yet (OldLive and RevokeURL say where to
// revoke it if not). cause goes in the audit record (credential.replaced).
func (x *Responder) Replace(ctx context.Context, heldID string, secret aicred.Secret, cause string) (*ReplaceResult, error) {
	st := x.o.Store
	h, err := st.GetHeldCredential(ctx, heldID)
	if err != nil {
		return nil, err
	}
	if secret.Fingerprint() == h.Fingerprint {
		return nil, aicred.Errorf(aicred.ErrInvalid, "replace %s: the new secret is the one held", h.ID)
	}
	k, err := x.kind(h)
	if err != nil {
		return nil, err
	}
	old, err := x.open(h)
	if err != nil {
		return nil, err
	}
	res := &ReplaceResult{HeldID: h.ID, OldFingerprint: h.Fingerprint, NewFingerprint: secret.Fingerprint(), RevokeURL: revokeURL(k)}
	res.New = x.check(ctx, h, secret, aicred.Live, x.o.Checks)
	if res.New.State != aicred.NotChecked && !matches(res.New.State, aicred.Live) {
		return res, aicred.Errorf(aicred.ErrInvalid, "replace %s: the new secret does not work (%s); nothing changed", h.ID, checkText(res.New))
	}
	next := &aicred.HeldCredential{ID: h.ID, Fingerprint: secret.Fingerprint(), Redacted: secret.Redacted()}
	if next.Sealed, next.KeyID, err = x.o.Sealer.Seal(secret, next.AAD()); err != nil {
		return nil, fmt.Errorf("seal the new secret: %w", err)
	}
	if _, err := st.RotateHeld(ctx, next); err != nil {
		return nil, err
	}
	rv := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: h.ID, Reason: "held credential replaced: " + cause}
	if err := st.Revoke(ctx, rv); err != nil {
		return res, fmt.Errorf("tell the gateways: %w", err)
	}
	res.Old = x.check(ctx, h, old, aicred.Dead, 1)
	res.OldLive = matches(res.Old.State, aicred.Live)
	if _, err := st.AppendAudit(ctx, aicred.AuditEvent{Action: ActionCredentialReplaced, Subject: h.ID, Data: map[string]string{
		"held": h.ID, "old_fingerprint": string(h.Fingerprint), "new_fingerprint": string(res.NewFingerprint),
		"provider": h.Provider, "kind": h.Kind, "cause": cause, "new_liveness": string(res.New.State),
		"old_liveness": string(res.Old.State), "revocation": strconv.FormatInt(rv.Seq, 10),
	}}); err != nil {
		return res, err
	}
	return res, nil
}
