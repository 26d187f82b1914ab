package aicred

import "context"

// A Store is aicred's memory: the inventory, the credentials it holds, the
// tokens it issued and revoked, and the audit log. Implementations live in sqlite/ (the embedded default) and
// postgres/ (several processes sharing one database); storetest/ runs the
// same conformance suite against both.
//
// Every method that changes state appends its audit record(s) in the same
// transaction as the change, so the log and the data never disagree. The
// actor of those records comes from the context (WithActor).
//
// Every method may also fail with ErrUnavailable when the database cannot
// be reached or stays locked, in which case nothing was changed, and with
// ErrInternal for anything unexpected.
type Store interface {
	InventoryService
	HeldCredentialService
	TokenService
	AuditLog
	AuditSearch
	// UsageService and BudgetService are the gateway's metering: they
	// write no audit records (see each).
	UsageService
	BudgetService
	// GatewayObjectService records who owns what the gateway created; it
	// writes no audit records either.
	GatewayObjectService
	// ReplayService refuses a workload JWT presented twice, across every
	// process sharing the store; no audit records.
	ReplayService
	// RotationService records rotations of held credentials at their
	// providers, step by step, with their audit records.
	RotationService
	// ConsoleSessionService keeps the web console's sessions for every
	// process sharing the store; no audit records.
	ConsoleSessionService
	// Close releases the database. Methods called after Close fail.
	Close() error
}

// InventoryService records and answers what aicred knows about
// credentials found in the wild.
type InventoryService interface {
	// RecordSightings records where credentials were seen, in one
	// transaction. A credential seen for the first time enters the
	// inventory (audit: credential.discovered); a sighting at a new place
	// is added (audit: sighting.recorded); a sighting whose Key is known
	// is refreshed (last seen, line, column, scan id), and a call that
	// refreshes any writes one sightings.refreshed record. Recording the
	// same observations again is therefore idempotent for the inventory.
	// Callers batch: a thousand observations per call is a good size.
	// Errors: ErrInvalid (a malformed observation; nothing is recorded).
	RecordSightings(ctx context.Context, obs []Observation) (RecordSummary, error)

	// RecordLiveness appends liveness checks to the credentials' histories
	// and updates their latest verification when the check is newer.
	// Audit: credential.checked per check.
	// Errors: ErrInvalid, ErrNotFound (a fingerprint not in the inventory;
	// nothing is recorded).
	RecordLiveness(ctx context.Context, checks []LivenessCheck) error

	// ListCredentials returns the credentials matching f, ordered by
	// provider, kind and fingerprint.
	// Errors: ErrInvalid (a negative limit or offset).
	ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error)

	// GetCredential returns a credential with every sighting (oldest first)
	// and its liveness history (oldest first).
	// Errors: ErrInvalid (malformed fingerprint), ErrNotFound.
	GetCredential(ctx context.Context, fp Fingerprint) (*CredentialDetail, error)

	// ListCredentialDetails returns the credentials matching f, in the
	// order of ListCredentials, each with its sightings and liveness
	// history (oldest first), read in one consistent snapshot. It is what
	// posture reports read: a few queries, not one per credential.
	// Errors: ErrInvalid (a negative limit or offset).
	ListCredentialDetails(ctx context.Context, f CredentialFilter) ([]CredentialDetail, error)

	// SetCredentialMeta changes what people know about a credential and
	// returns the result. Audit: credential.updated, naming the fields.
	// Errors: ErrInvalid, ErrNotFound.
	SetCredentialMeta(ctx context.Context, fp Fingerprint, u CredentialUpdate) (*Credential, error)
}

// RecordSummary counts what a RecordSightings call changed.
type RecordSummary struct {
	NewCredentials int `json:"new_credentials"`
	NewSightings   int `json:"new_sightings"`
	Refreshed      int `json:"refreshed"`
}

// HeldCredentialService keeps the upstream credentials aicred uses on
// workloads' behalf, sealed. It never sees plaintext: callers seal with a
// Sealer before Put and open after Get.
type HeldCredentialService interface {
	// PutHeldCredential stores a new held credential and enters its
	// fingerprint in the inventory (Held becomes true). CreatedAt defaults
	// to now. Audit: held.added.
	// Errors: ErrInvalid, ErrConflict (the id exists).
	PutHeldCredential(ctx context.Context, h *HeldCredential) error

	// GetHeldCredential returns the held credential with the given id.
	// Errors: ErrNotFound.
	GetHeldCredential(ctx context.Context, id string) (*HeldCredential, error)

	// ListHeldCredentials returns the held credentials matching f, by id.
	ListHeldCredentials(ctx context.Context, f HeldFilter) ([]HeldCredential, error)

	// RotateHeld replaces the secret of the held credential next.ID with
	// the one sealed in next (fingerprint, redacted, sealed, key id,
	// expiry), keeps its CreatedAt and sets RotatedAt (now when unset).
	// The old fingerprint's inventory record is marked rotated and the new
	// one entered. Audit: held.rotated. Returns the stored record.
	// Errors: ErrInvalid, ErrNotFound.
	RotateHeld(ctx context.Context, next *HeldCredential) (*HeldCredential, error)

	// SetHeldStatus sets the status of held credential id (HeldActive,
	// HeldSuspended, HeldRevoked) with its reason, and in the same
	// transaction records a revocation by RevokeHeldKey for id, so every
	// gateway sharing the store drops its cached key and reads the status
	// at once. Setting the status it has already changes nothing and
	// records nothing. Audit: held.status (and token.revoked for the
	// revocation). Returns the stored record.
	// Errors: ErrInvalid, ErrNotFound.
	SetHeldStatus(ctx context.Context, id string, status HeldStatus, reason string) (*HeldCredential, error)

	// RewrapHeld calls rewrap for every held credential, in one
	// transaction, and stores each blob it returns under the key id it
	// returns. It is the store half of a master key rotation: the data
	// keys are re-wrapped under the new master key without decrypting the
	// secrets and without downtime (readers see the old or the new blobs,
	// and the keyring holds both keys until this returns). Records whose
	// key id does not change are left alone. Audit: one
	// master-key.rotated record. Returns how many records changed.
	// Errors: whatever rewrap returns (nothing is changed).
	RewrapHeld(ctx context.Context, rewrap RewrapFunc) (int, error)
}

// A RewrapFunc returns h's sealed blob re-wrapped under the current master
// key, and that key's id.
type RewrapFunc func(h *HeldCredential) (sealed []byte, keyID string, err error)

// A Sealer encrypts secrets for storage and opens them at the moment of
// use. aad binds a blob to its record (HeldCredential.AAD): a blob opened
// with other aad fails. seal.Keyring is the implementation.
type Sealer interface {
	// Seal encrypts s and returns the blob and the id of the master key
	// that wraps its data key.
	Seal(s Secret, aad []byte) (blob []byte, keyID string, err error)
	// Open decrypts a blob. Errors: ErrUnauthorized (wrong key, tampered
	// blob, wrong aad), ErrNotFound (the master key is not in the ring).
	Open(blob, aad []byte) (Secret, error)
	// Rewrap re-wraps the blob's data key under the primary master key
	// without decrypting the secret.
	Rewrap(blob, aad []byte) (newBlob []byte, keyID string, err error)
}

// AuditLog is the append-only, hash-chained record of every state change.
type AuditLog interface {
	// AppendAudit appends an event that is not the side effect of another
	// store method (an export, a login, a policy decision). The store sets
	// Seq, Time, PrevHash and Hash; Actor defaults to the context's.
	// Data must hold no secret material. Errors: ErrInvalid (no action).
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)

	// ListAudit returns up to limit events with Seq >= fromSeq, in order.
	// Errors: ErrInvalid (limit < 1).
	ListAudit(ctx context.Context, fromSeq int64, limit int) ([]AuditEvent, error)

	// VerifyAudit walks the whole chain and reports the first record that
	// breaks it. A broken chain is a result, not an error: errors mean the
	// log could not be read.
	VerifyAudit(ctx context.Context) (AuditVerification, error)
}
