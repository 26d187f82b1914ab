package aicred

import (
	"context"
	"time"
)

// An AuditEvent is one record of the audit log. Records are chained: each
// holds the hash of the one before it (PrevHash) and the SHA-256 of its own
// canonical content (Hash), so that changing, removing, inserting or
// reordering a record breaks the chain at that record. See package audit
// for the canonical encoding. An event never carries secret material:
// credentials are named by fingerprint.
type AuditEvent struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Subject  string            `json:"subject,omitempty"`
	Data     map[string]string `json:"data,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// Audit actions written by the store. Later parts of aicred (the broker,
// the gateway) add their own, named the same way: noun.past-participle.
const (
	ActionCredentialDiscovered = "credential.discovered"
	ActionSightingRecorded     = "sighting.recorded"
	ActionSightingsRefreshed   = "sightings.refreshed"
	ActionCredentialChecked    = "credential.checked"
	ActionCredentialUpdated    = "credential.updated"
	ActionHeldAdded            = "held.added"
	ActionHeldRotated          = "held.rotated"
	ActionMasterKeyRotated     = "master-key.rotated"
)

// AuditHead names the last record of the chain. A head kept outside the
// database (printed by `aicred audit verify`, stored elsewhere) lets a later
// verification prove the log was not cut short or rewritten wholesale.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditVerification is the outcome of walking the audit chain.
type AuditVerification struct {
	// Records is how many records were read.
	Records int64 `json:"records"`
	// Head is the last record that verified.
	Head AuditHead `json:"head"`
	// BadSeq is the position of the first record that breaks the chain
	// (for a deleted record, the position it held); 0 when the chain holds.
	BadSeq int64 `json:"bad_seq,omitempty"`
	// Problem says what is wrong at BadSeq.
	Problem string `json:"problem,omitempty"`
}

// OK reports whether the whole chain verified.
func (v AuditVerification) OK() bool { return v.BadSeq == 0 }

type actorKey struct{}

// DefaultActor is the actor of audit records when the context names none.
const DefaultActor = "aicred"

// WithActor returns a context whose audit records name actor (a user, a
// workload identity, "cli:alice@host").
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor named by ctx, or DefaultActor.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return DefaultActor
}

// An AuditQuery selects audit records for browsing, newest first. Empty
// fields match everything.
type AuditQuery struct {
	// Actions keeps the records whose action is one of these.
	Actions []string
	Subject string
	Actor   string
	// Since keeps the records made at or after it.
	Since time.Time
	// BeforeSeq keeps the records with Seq < BeforeSeq (0: no bound): the
	// next page of a listing starts before the last Seq of the previous.
	BeforeSeq int64
	// Limit caps the records returned: 1 to MaxAuditQuery.
	Limit int
}

// MaxAuditQuery bounds AuditQuery.Limit.
const MaxAuditQuery = 10000

// Validate checks q. Errors: ErrInvalid.
func (q AuditQuery) Validate() error {
	switch {
	case q.Limit < 1 || q.Limit > MaxAuditQuery:
		return Errorf(ErrInvalid, "audit query: limit %d is not between 1 and %d", q.Limit, MaxAuditQuery)
	case q.BeforeSeq < 0:
		return Errorf(ErrInvalid, "audit query: negative sequence number")
	case len(q.Actions) > 64:
		return Errorf(ErrInvalid, "audit query: more than 64 actions")
	}
	return nil
}

// AuditSearch answers the console's questions of the audit log without
// walking it from the start.
type AuditSearch interface {
	// SearchAudit returns up to q.Limit records matching q, newest
	// (highest Seq) first. It reads by sequence number backwards, so a
	// recent page costs little whatever the log's length.
	// Errors: ErrInvalid (see AuditQuery.Validate).
	SearchAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
