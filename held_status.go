package aicred

import (
	"strconv"
	"time"
)

// A HeldStatus says whether the gateway may use a held credential.
type HeldStatus string

// Held credential statuses. A new held credential is active; a suspended
// one is kept (sealed, traceable, rotatable) but no gateway injects it
// until it is made active again; a revoked one was revoked (at the
// provider where its API allows, and in aicred) and is never injected.
const (
	HeldActive    HeldStatus = "active"
	HeldSuspended HeldStatus = "suspended"
	HeldRevoked   HeldStatus = "revoked"
)

// Valid reports whether s is a known status.
func (s HeldStatus) Valid() bool {
	return s == HeldActive || s == HeldSuspended || s == HeldRevoked
}

// Usable reports whether a gateway may inject the credential: it is
// active (or was stored before statuses existed) and not expired at now.
func (h *HeldCredential) Usable(now time.Time) bool {
	return (h.Status == "" || h.Status == HeldActive) && (h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt))
}

// Audit action of a held credential's status change.
const ActionHeldStatus = "held.status"

// HeldStatusEvent is the audit record of held credential h changing from
// status from to h.Status, for reason; revocation is the sequence number
// of the held-key revocation that made every gateway drop its cached key.
func HeldStatusEvent(h *HeldCredential, from HeldStatus, revocation int64) AuditEvent {
	return AuditEvent{Action: ActionHeldStatus, Subject: h.ID, Data: map[string]string{
		"fingerprint": string(h.Fingerprint), "provider": h.Provider, "kind": h.Kind,
		"from": string(from), "status": string(h.Status), "reason": h.StatusReason,
		"revocation": strconv.FormatInt(revocation, 10),
	}}
}

// CheckHeldStatus checks the arguments of SetHeldStatus and returns the
// reason cleaned. Errors are ErrInvalid.
func CheckHeldStatus(id string, status HeldStatus, reason string) (string, error) {
	reason = StorableText(reason)
	switch {
	case !validID(id):
		return "", Errorf(ErrInvalid, "held credential: id %q must be 1-64 letters, digits, '-' or '_'", StorableText(id))
	case !status.Valid():
		return "", Errorf(ErrInvalid, "held credential %s: status %q: want active, suspended or revoked", id, StorableText(string(status)))
	case looksLikeToken(reason):
		return "", Errorf(ErrInvalid, "held credential %s: the reason looks like a token", id)
	}
	if len(reason) > 1024 {
		reason = StorableText(reason[:1024])
	}
	return reason, nil
}
