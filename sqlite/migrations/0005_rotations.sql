-- Rotations of held credentials at their providers, one row per rotation,
-- advanced step by step (aicred.RotationState). Secrets are only sealed:
-- old_sealed is a copy of the held credential's blob (its AAD is the held
-- record's as it was), kept until the rotation ends; new_sealed holds the
-- provider's new secret between the states created and sealed. Times are
-- TEXT as in 0001.
CREATE TABLE rotations (
	id              TEXT PRIMARY KEY,
	held_id         TEXT NOT NULL REFERENCES held_credentials (id),
	provider        TEXT NOT NULL,
	kind            TEXT NOT NULL,
	state           TEXT NOT NULL,
	admin_held_id   TEXT NOT NULL DEFAULT '',
	old_fingerprint TEXT NOT NULL,
	old_redacted    TEXT NOT NULL DEFAULT '',
	old_provider_id TEXT NOT NULL DEFAULT '',
	old_attrs       TEXT NOT NULL DEFAULT '{}', -- JSON object
	old_expires_at  TEXT,
	old_key_id      TEXT NOT NULL DEFAULT '',
	old_sealed      BLOB,
	new_fingerprint TEXT NOT NULL DEFAULT '',
	new_redacted    TEXT NOT NULL DEFAULT '',
	new_provider_id TEXT NOT NULL DEFAULT '',
	new_attrs       TEXT NOT NULL DEFAULT '{}', -- JSON object
	new_key_id      TEXT NOT NULL DEFAULT '',
	new_sealed      BLOB,
	error           TEXT NOT NULL DEFAULT '',
	actor           TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL
);
CREATE INDEX rotations_held ON rotations (held_id, created_at);
-- At most one unfinished rotation per held credential.
CREATE UNIQUE INDEX rotations_one_active ON rotations (held_id) WHERE state NOT IN ('done', 'rolled_back');
