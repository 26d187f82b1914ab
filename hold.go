package aicred

import (
	"context"
	"strings"
	"time"
)

// DefaultWorkloadHold is how long a revocation by workload keeps the
// workload from exchanging for new tokens when it names no hold of its
// own (Revocation.Hold zero). aicred serve takes broker.workload_hold.
const DefaultWorkloadHold = time.Hour

// NoHold, as Revocation.Hold, revokes a workload's tokens without holding
// the workload.
const NoHold time.Duration = -1

// MaxWorkloadHold bounds a hold: longer is a configuration mistake (a
// workload to be kept out for good loses its trust policy instead).
const MaxWorkloadHold = 366 * 24 * time.Hour

// A WorkloadHold keeps a workload from exchanging its identity for new
// tokens until Until, or until an administrator lifts it. A revocation by
// workload (an administrator's, or the gateway's anomaly suspension) sets
// one in the same transaction, so every process sharing the store refuses
// the workload's next exchange, not only the tokens it already had.
type WorkloadHold struct {
	Workload  string    `json:"workload"` // issuer + " " + subject
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by"` // the actor that set it
	CreatedAt time.Time `json:"created_at"`
	// RevocationSeq is the revocation that set the hold (0: set directly).
	RevocationSeq int64 `json:"revocation_seq,omitempty"`
}

// Active reports whether the hold still applies at now.
func (h *WorkloadHold) Active(now time.Time) bool { return now.Before(h.Until) }

// Prepare cleans h's text and checks it before it is stored; the store
// sets CreatedBy and CreatedAt. Errors are ErrInvalid.
func (h *WorkloadHold) Prepare(now time.Time) error {
	h.Workload, h.Reason = StorableText(h.Workload), StorableText(h.Reason)
	if err := CheckWorkload(h.Workload); err != nil {
		return err
	}
	h.Until = StoreTime(h.Until)
	switch {
	case !h.Until.After(now):
		return Errorf(ErrInvalid, "hold %s: the end is not in the future", h.Workload)
	case h.Until.Sub(now) > MaxWorkloadHold:
		return Errorf(ErrInvalid, "hold %s: longer than %v", h.Workload, MaxWorkloadHold)
	case looksLikeToken(h.Reason):
		return Errorf(ErrInvalid, "hold %s: the reason looks like a token", h.Workload)
	}
	return nil
}

// LiftReason cleans the reason given for lifting a hold; a reason that
// looks like a token is refused (audit records are kept for good).
// Errors are ErrInvalid.
func LiftReason(reason string) (string, error) {
	reason = StorableText(reason)
	if looksLikeToken(reason) {
		return "", Errorf(ErrInvalid, "lift hold: the reason looks like a token")
	}
	return reason, nil
}

// CheckWorkload checks a workload name: "ISSUER SUBJECT", the issuer
// without white space. Errors are ErrInvalid and do not quote the value.
func CheckWorkload(w string) error {
	issuer, subject, ok := strings.Cut(w, " ")
	if !ok || issuer == "" || subject == "" || looksLikeToken(w) || validTokenHash(w) {
		return Errorf(ErrInvalid, "workload: must be 'ISSUER SUBJECT'")
	}
	return nil
}

// HoldFor returns the hold a revocation sets when made at now: for a
// revocation by workload whose Hold is not NoHold, a hold of Hold (zero:
// DefaultWorkloadHold) with the revocation's reason; for any other, nil.
// Stores call it inside the revocation's transaction.
// Errors: ErrInvalid (a hold out of range).
func (r *Revocation) HoldFor(now time.Time) (*WorkloadHold, error) {
	if r.By != RevokeWorkload || r.Hold == NoHold {
		return nil, nil
	}
	d := r.Hold
	if d == 0 {
		d = DefaultWorkloadHold
	}
	if d < 0 || d > MaxWorkloadHold {
		return nil, Errorf(ErrInvalid, "revoke by workload: hold %v is out of range (0 < hold <= %v, or NoHold)", r.Hold, MaxWorkloadHold)
	}
	return &WorkloadHold{Workload: r.Value, Until: StoreTime(now.Add(d)), Reason: r.Reason}, nil
}

// WorkloadHoldService keeps workload holds. It is part of TokenService.
type WorkloadHoldService interface {
	// HoldWorkload holds h.Workload until h.Until. An active hold on the
	// same workload is replaced, but never shortened: the later end is
	// kept. CreatedBy is the context's actor, CreatedAt now; h is updated
	// to what was stored. Audit: workload.held.
	// Errors: ErrInvalid (not "ISSUER SUBJECT", an end not in the future
	// or more than MaxWorkloadHold away).
	HoldWorkload(ctx context.Context, h *WorkloadHold) error

	// LiftWorkloadHold ends the hold on workload at once.
	// Audit: workload.hold_lifted (with reason).
	// Errors: ErrInvalid (not "ISSUER SUBJECT"), ErrNotFound (no active
	// hold).
	LiftWorkloadHold(ctx context.Context, workload, reason string) error

	// WorkloadHold returns the active hold on workload. The exchange asks
	// it before each new token, and the store asks it again inside
	// IssueGrant, so a revocation racing an exchange cannot let a token
	// out. Errors: ErrNotFound (none, or expired).
	WorkloadHold(ctx context.Context, workload string) (*WorkloadHold, error)

	// ListWorkloadHolds returns the active holds, by workload.
	ListWorkloadHolds(ctx context.Context) ([]WorkloadHold, error)
}

// Audit actions of workload holds.
const (
	ActionWorkloadHeld       = "workload.held"
	ActionWorkloadHoldLifted = "workload.hold_lifted"
)

// ReplayService remembers presented workload JWTs for every process
// sharing the store, so that a jti is refused a second time wherever it
// is presented. It writes no audit records (the exchange's outcome is the
// trace) and stores only a hash.
type ReplayService interface {
	// RememberReplay records keyHash (64 lower-case hex digits: a SHA-256)
	// until the given time and reports whether it was new. An entry whose
	// time has passed is taken again as new. Exactly one of any number of
	// concurrent calls with the same key, from any process, is fresh.
	// Expired entries are dropped in sweeps amortised over calls.
	// Errors: ErrInvalid (a malformed hash, an until not after now),
	// ErrUnavailable (the caller must refuse the token: fail closed).
	RememberReplay(ctx context.Context, keyHash string, until time.Time) (fresh bool, err error)
}

// CheckReplayKey checks the arguments of RememberReplay.
// Errors are ErrInvalid.
func CheckReplayKey(keyHash string, until, now time.Time) error {
	if !validTokenHash(keyHash) {
		return Errorf(ErrInvalid, "replay key: must be 64 lower-case hex digits")
	}
	if !until.After(now) {
		return Errorf(ErrInvalid, "replay key: until is not in the future")
	}
	return nil
}
