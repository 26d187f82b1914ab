package aicred

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"time"
)

// A RotationState is where a rotation of a held credential stands. The
// steps run in this order, and each one's result is recorded before the
// next begins, so a rotation interrupted at any point resumes from its
// recorded state:
//
//	started → created → sealed → verified_new → switched → revoked_old → verified_old_dead → done
//
// A rotation whose old credential has not been revoked yet may instead be
// rolled back (rolling_back → rolled_back): the held credential gets its
// old secret back and the new credential is revoked at the provider.
type RotationState string

// Rotation states.
const (
	RotationStarted         RotationState = "started"           // recorded; nothing done at the provider yet
	RotationCreated         RotationState = "created"           // the provider made the new credential; it is sealed in the rotation
	RotationSealed          RotationState = "sealed"            // the held credential holds the new secret
	RotationVerifiedNew     RotationState = "verified_new"      // the new credential works
	RotationSwitched        RotationState = "switched"          // every gateway was told to drop the old key
	RotationRevokedOld      RotationState = "revoked_old"       // the provider revoked the old credential
	RotationVerifiedOldDead RotationState = "verified_old_dead" // the old credential no longer works
	RotationDone            RotationState = "done"
	RotationRollingBack     RotationState = "rolling_back" // a rollback began; it resumes like a rotation
	RotationRolledBack      RotationState = "rolled_back"  // the old credential is back in place, the new one revoked
)

// rotationNext is the forward path.
var rotationNext = map[RotationState]RotationState{
	RotationStarted:         RotationCreated,
	RotationCreated:         RotationSealed,
	RotationSealed:          RotationVerifiedNew,
	RotationVerifiedNew:     RotationSwitched,
	RotationSwitched:        RotationRevokedOld,
	RotationRevokedOld:      RotationVerifiedOldDead,
	RotationVerifiedOldDead: RotationDone,
	RotationRollingBack:     RotationRolledBack,
}

// Next returns the state that follows s on its path ("" after a terminal
// state).
func (s RotationState) Next() RotationState { return rotationNext[s] }

// Terminal reports whether nothing more happens to a rotation in state s.
func (s RotationState) Terminal() bool { return s == RotationDone || s == RotationRolledBack }

// CanRollBack reports whether a rotation in state s may be rolled back:
// the old credential is still valid at the provider.
func (s RotationState) CanRollBack() bool {
	switch s {
	case RotationStarted, RotationCreated, RotationSealed, RotationVerifiedNew, RotationSwitched, RotationRollingBack:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s RotationState) Valid() bool {
	_, ok := rotationNext[s]
	return ok || s.Terminal()
}

// validTransition reports whether a rotation may go from one state to
// another: one step forward, a rollback from a state that allows it, or a
// failed attempt recorded without moving (from == to).
func validTransition(from, to RotationState) bool {
	switch {
	case from.Terminal():
		return false
	case from == to, rotationNext[from] == to:
		return true
	case to == RotationRollingBack:
		return from.CanRollBack()
	}
	return false
}

// A Rotation is the record of one rotation of a held credential at its
// provider. It holds fingerprints, provider ids and non-secret attributes;
// the only secret material is sealed: the old secret (a copy of the held
// credential's blob, so a crash after the switch can still revoke and
// check it) until the rotation ends, and the new secret between created
// and sealed (after sealed it lives in the held credential).
type Rotation struct {
	ID       string        `json:"id"` // "rot_" + hex
	HeldID   string        `json:"held_id"`
	Provider string        `json:"provider"`
	Kind     string        `json:"kind"`
	State    RotationState `json:"state"`
	// AdminHeldID is the held credential whose secret authenticates the
	// provider's admin API; empty when the credential manages itself.
	AdminHeldID string `json:"admin_held_id,omitempty"`

	OldFingerprint Fingerprint       `json:"old_fingerprint"`
	OldRedacted    string            `json:"old_redacted"`
	OldProviderID  string            `json:"old_provider_id,omitempty"`
	OldAttrs       map[string]string `json:"old_attrs,omitempty"`
	OldExpiresAt   time.Time         `json:"-"`
	OldSealed      []byte            `json:"-"`
	OldKeyID       string            `json:"-"`

	NewFingerprint Fingerprint       `json:"new_fingerprint,omitempty"`
	NewRedacted    string            `json:"new_redacted,omitempty"`
	NewProviderID  string            `json:"new_provider_id,omitempty"`
	NewAttrs       map[string]string `json:"new_attrs,omitempty"`
	NewSealed      []byte            `json:"-"`
	NewKeyID       string            `json:"-"`

	// Error is the last failed step's error (never secret material);
	// cleared when a step succeeds.
	Error     string    `json:"error,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewRotationID returns a fresh random rotation id.
func NewRotationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rot_" + hex.EncodeToString(b[:])
}

// OldAAD is the additional authenticated data of OldSealed: the held
// credential's, as it was (so the copied blob opens, and opens only here
// or in the held record it came from).
func (r *Rotation) OldAAD() []byte {
	h := HeldCredential{ID: r.HeldID, Fingerprint: r.OldFingerprint}
	return h.AAD()
}

// NewAAD is the additional authenticated data of NewSealed: it binds the
// blob to this rotation and the new fingerprint.
func (r *Rotation) NewAAD() []byte {
	return []byte("aicred/rotation/v1\x00" + r.ID + "\x00" + r.HeldID + "\x00" + string(r.NewFingerprint))
}

// Prepare checks a new rotation before it is stored. Errors are ErrInvalid.
func (r *Rotation) Prepare() error {
	r.Provider, r.Kind, r.OldRedacted, r.OldProviderID = StorableText(r.Provider), StorableText(r.Kind), StorableText(r.OldRedacted), StorableText(r.OldProviderID)
	r.OldAttrs = cleanAttrs(r.OldAttrs)
	switch {
	case !validID(r.ID):
		return Errorf(ErrInvalid, "rotation: the id must be 1-64 letters, digits, '-' or '_'")
	case !validID(r.HeldID):
		return Errorf(ErrInvalid, "rotation %s: the held credential id is invalid", r.ID)
	case r.AdminHeldID != "" && !validID(r.AdminHeldID):
		return Errorf(ErrInvalid, "rotation %s: the admin credential id is invalid", r.ID)
	case r.AdminHeldID == r.HeldID:
		return Errorf(ErrInvalid, "rotation %s: the admin credential is the one rotated (leave it empty for a self-managed kind)", r.ID)
	case r.State != "" && r.State != RotationStarted:
		return Errorf(ErrInvalid, "rotation %s: a new rotation starts in state %q", r.ID, RotationStarted)
	case r.Provider == "" || r.Kind == "":
		return Errorf(ErrInvalid, "rotation %s: provider and kind are required", r.ID)
	case !r.OldFingerprint.Valid():
		return Errorf(ErrInvalid, "rotation %s: the old fingerprint is malformed", r.ID)
	case len(r.OldSealed) == 0 || r.OldKeyID == "":
		return Errorf(ErrInvalid, "rotation %s: the old secret's sealed blob and key id are required", r.ID)
	case r.NewFingerprint != "" || len(r.NewSealed) > 0 || r.NewProviderID != "":
		return Errorf(ErrInvalid, "rotation %s: a new rotation has no new credential yet", r.ID)
	}
	r.State = RotationStarted
	return nil
}

// A RotationStep is what one step of a rotation records: the state it
// reached (or, for a failed attempt, the state it stays in with Error
// set) and what it learned. Nil and zero fields leave the record alone,
// except that Error always replaces the last error and ClearNewSealed
// and ClearOldSealed drop the sealed blobs.
type RotationStep struct {
	To RotationState
	// Error is set for a failed attempt (To is then the current state).
	Error string

	NewFingerprint Fingerprint
	NewRedacted    string
	NewProviderID  string
	NewAttrs       map[string]string
	NewSealed      []byte
	NewKeyID       string

	ClearNewSealed bool
	ClearOldSealed bool

	// Detail is a short non-secret note for the step's audit record
	// ("liveness: live", "gateway caches flushed: revocation 12").
	Detail string
}

// Check checks a step from state from. Errors are ErrInvalid.
func (s *RotationStep) Check(id string, from RotationState) error {
	s.Error, s.Detail, s.NewRedacted, s.NewProviderID = StorableText(s.Error), StorableText(s.Detail), StorableText(s.NewRedacted), StorableText(s.NewProviderID)
	s.NewAttrs = cleanAttrs(s.NewAttrs)
	switch {
	case !s.To.Valid():
		return Errorf(ErrInvalid, "rotation %s: unknown state %q", id, s.To)
	case !validTransition(from, s.To):
		return Errorf(ErrInvalid, "rotation %s: cannot go from %s to %s", id, from, s.To)
	case from == s.To && s.Error == "":
		return Errorf(ErrInvalid, "rotation %s: a step that does not move records an error", id)
	case s.NewFingerprint != "" && !s.NewFingerprint.Valid():
		return Errorf(ErrInvalid, "rotation %s: the new fingerprint is malformed", id)
	case len(s.NewSealed) > 0 && (s.NewKeyID == "" || s.NewFingerprint == ""):
		return Errorf(ErrInvalid, "rotation %s: a sealed new secret needs its key id and fingerprint", id)
	case len(s.NewSealed) > 0 && s.ClearNewSealed:
		return Errorf(ErrInvalid, "rotation %s: a step cannot both seal and clear the new secret", id)
	}
	return nil
}

// Apply returns r after s (the store's half of AdvanceRotation).
func (r Rotation) Apply(s *RotationStep, now time.Time) *Rotation {
	r.State, r.Error, r.UpdatedAt = s.To, s.Error, now
	if s.NewFingerprint != "" {
		r.NewFingerprint = s.NewFingerprint
	}
	if s.NewRedacted != "" {
		r.NewRedacted = s.NewRedacted
	}
	if s.NewProviderID != "" {
		r.NewProviderID = s.NewProviderID
	}
	if s.NewAttrs != nil {
		r.NewAttrs = maps.Clone(s.NewAttrs)
	}
	if len(s.NewSealed) > 0 {
		r.NewSealed, r.NewKeyID = s.NewSealed, s.NewKeyID
	}
	if s.ClearNewSealed {
		r.NewSealed, r.NewKeyID = nil, ""
	}
	if s.ClearOldSealed {
		r.OldSealed, r.OldKeyID = nil, ""
	}
	return &r
}

func cleanAttrs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[StorableText(k)] = StorableText(v)
	}
	return out
}

// RotationFilter selects rotations; zero fields match everything.
type RotationFilter struct {
	HeldID string
	// Active leaves out rotations in a terminal state.
	Active bool
	Limit  int
}

// Audit actions of rotations.
const (
	ActionRotationStarted = "rotation.started"
	ActionRotationStep    = "rotation.step"
	ActionRotationFailed  = "rotation.failed"
)

// RotationService records rotations of held credentials at their
// providers, step by step (the respond package runs them).
type RotationService interface {
	// StartRotation records a new rotation of r.HeldID in state started,
	// sets CreatedAt, UpdatedAt and Actor (from the context). At most one
	// rotation of a held credential is unfinished at a time. Audit:
	// rotation.started (ids, provider, kind, old fingerprint).
	// Errors: ErrInvalid (Rotation.Prepare), ErrNotFound (the held
	// credential or the admin credential does not exist), ErrConflict (the
	// id exists, or the held credential has an unfinished rotation).
	StartRotation(ctx context.Context, r *Rotation) error

	// AdvanceRotation records step s of rotation id, which must be in
	// state from (compare and set: two processes cannot both take a step),
	// and returns the stored record. Audit: rotation.step (from, to,
	// fingerprints, provider ids, detail) or, for a failed attempt,
	// rotation.failed with the error.
	// Errors: ErrInvalid (RotationStep.Check), ErrNotFound, ErrConflict
	// (the rotation is no longer in state from).
	AdvanceRotation(ctx context.Context, id string, from RotationState, s *RotationStep) (*Rotation, error)

	// GetRotation returns the rotation with the given id, sealed blobs
	// included. Errors: ErrNotFound.
	GetRotation(ctx context.Context, id string) (*Rotation, error)

	// ListRotations returns the rotations matching f, newest first (by
	// CreatedAt, then id), sealed blobs included.
	// Errors: ErrInvalid (a negative limit).
	ListRotations(ctx context.Context, f RotationFilter) ([]Rotation, error)
}

// RotationStartedEvent is the audit record of StartRotation.
func RotationStartedEvent(r *Rotation) AuditEvent {
	return AuditEvent{Action: ActionRotationStarted, Subject: r.HeldID, Data: auditData(
		"rotation", r.ID, "held", r.HeldID, "provider", r.Provider, "kind", r.Kind,
		"admin", r.AdminHeldID, "old_fingerprint", string(r.OldFingerprint), "old_id", r.OldProviderID)}
}

// RotationStepEvent is the audit record of AdvanceRotation: the step
// from before to after (rotation.step), or a failed attempt
// (rotation.failed).
func RotationStepEvent(before, after *Rotation, s *RotationStep) AuditEvent {
	action := ActionRotationStep
	if s.Error != "" {
		action = ActionRotationFailed
	}
	return AuditEvent{Action: action, Subject: after.HeldID, Data: auditData(
		"rotation", after.ID, "held", after.HeldID, "from", string(before.State), "to", string(after.State),
		"old_fingerprint", string(after.OldFingerprint), "new_fingerprint", string(after.NewFingerprint),
		"new_id", after.NewProviderID, "detail", s.Detail, "error", s.Error)}
}

func auditData(kv ...string) map[string]string {
	d := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			d[kv[i]] = kv[i+1]
		}
	}
	return d
}
