-- Signed checkpoints of the audit chain. Every so many records or seconds
-- a server signs the chain's head (seq and hash) with the Ed25519 key
-- derived from the master key (key_id names the master key), so that a
-- rewrite of the whole log that also recomputes every hash and the head
-- is caught by `aicred audit verify`: it cannot forge the signature.
CREATE TABLE audit_checkpoints (
	seq       INTEGER PRIMARY KEY,
	hash      TEXT NOT NULL,
	at        TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	signature TEXT NOT NULL -- base64 Ed25519 signature of audit.CheckpointMessage
);

-- Pruning (the retention settings of serve) deletes by these.
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX budgets_updated_at ON budgets (updated_at);
