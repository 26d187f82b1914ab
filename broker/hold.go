package broker

import (
	"context"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/aicred/aicred"
)

// ReasonWorkloadHeld refuses an exchange for a workload under a hold.
const ReasonWorkloadHeld = "workload_held"

// ActionExchangeRefused is the audit action of an exchange refused
// because the workload is held.
const ActionExchangeRefused = "token.exchange_refused"

// Holds answers whether a workload is held from new tokens:
// aicred.WorkloadHoldService (every store, grantcache.Cache) and
// MemoryTokenStore satisfy it.
type Holds interface {
	// WorkloadHold returns the active hold on workload ("ISSUER SUBJECT").
	// Errors: ErrNotFound (none); any other error refuses the exchange.
	WorkloadHold(ctx context.Context, workload string) (*aicred.WorkloadHold, error)
}

// Auditor appends audit records; aicred.Store satisfies it.
type Auditor interface {
	AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error)
}

// errHeld is the refusal of a held workload. RFC 6749 §5.2 invalid_grant
// ("the provided authorization grant ... is invalid, expired, revoked"):
// the subject token verified, but the authority it carries is withdrawn
// for now. access_denied is an authorization-endpoint code (§4.1.2.1),
// not one the token endpoint answers.
func errHeld() error {
	return refuse(CodeInvalidGrant, ReasonWorkloadHeld, "this workload is held from new tokens after a revocation; an administrator can lift the hold", nil)
}

// checkHold refuses a held workload, and fails closed when the holds
// cannot be read.
func (x *Exchanger) checkHold(ctx context.Context, id *Identity) error {
	if x.holds == nil {
		return nil
	}
	h, err := x.holds.WorkloadHold(ctx, id.Workload.String())
	switch {
	case err == nil && h != nil:
		x.auditHeld(ctx, id, h)
		return errHeld()
	case aicred.KindOf(err) == aicred.ErrNotFound:
		return nil
	case err == nil:
		return nil
	}
	return refuse(CodeTemporarilyUnavailable, ReasonStore, "the service is temporarily unavailable", err)
}

// auditHeld records an exchange refused for a hold. The refusal stands
// whether or not the record could be written.
func (x *Exchanger) auditHeld(ctx context.Context, id *Identity, h *aicred.WorkloadHold) {
	if x.audit == nil {
		return
	}
	data := map[string]string{
		"reason": ReasonWorkloadHeld, "issuer": id.Issuer, "subject": truncate(id.Subject, 256),
		"proof": id.Proof, "held_until": h.Until.UTC().Format("2006-01-02T15:04:05Z"),
	}
	if _, err := x.audit.AppendAudit(ctx, aicred.AuditEvent{Action: ActionExchangeRefused, Subject: h.Workload, Data: data}); err != nil {
		x.log.LogAttrs(ctx, slog.LevelError, "audit of a refused exchange failed", slog.String("err", err.Error()))
	}
}

// StoreReplayCache is a ReplayCache kept in the store, so that a jti
// presented to any process sharing the store is refused on every other:
// keys are stored as their hex (a SHA-256 already, never the jti).
// Every error fails closed (the caller refuses the token).
type StoreReplayCache struct {
	Store aicred.ReplayService
}

// NewStoreReplayCache returns a ReplayCache over s.
func NewStoreReplayCache(s aicred.ReplayService) *StoreReplayCache {
	return &StoreReplayCache{Store: s}
}

// Remember implements ReplayCache.
func (c *StoreReplayCache) Remember(ctx context.Context, key [32]byte, until time.Time) (bool, error) {
	fresh, err := c.Store.RememberReplay(ctx, hex.EncodeToString(key[:]), until)
	if err != nil {
		return false, aicred.Errorf(aicred.ErrUnavailable, "replay cache: %w", err)
	}
	return fresh, nil
}
