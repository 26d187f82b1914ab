-- Rotations of held credentials at their providers, one row per rotation,
-- advanced step by step (aicred.RotationState). Secrets are only sealed:
-- old_sealed is a copy of the held credential's blob (its AAD is the held
-- record's as it was), kept until the rotation ends; new_sealed holds the
-- provider's new secret between the states created and sealed. Times are
-- timestamptz.
CREATE TABLE rotations (
	id              text PRIMARY KEY,
	held_id         text NOT NULL REFERENCES held_credentials (id),
	provider        text NOT NULL,
	kind            text NOT NULL,
	state           text NOT NULL,
	admin_held_id   text NOT NULL DEFAULT '',
	old_fingerprint text NOT NULL,
	old_redacted    text NOT NULL DEFAULT '',
	old_provider_id text NOT NULL DEFAULT '',
	old_attrs       text NOT NULL DEFAULT '{}', -- JSON object
	old_expires_at  timestamptz,
	old_key_id      text NOT NULL DEFAULT '',
	old_sealed      bytea,
	new_fingerprint text NOT NULL DEFAULT '',
	new_redacted    text NOT NULL DEFAULT '',
	new_provider_id text NOT NULL DEFAULT '',
	new_attrs       text NOT NULL DEFAULT '{}', -- JSON object
	new_key_id      text NOT NULL DEFAULT '',
	new_sealed      bytea,
	error           text NOT NULL DEFAULT '',
	actor           text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);
CREATE INDEX rotations_held ON rotations (held_id, created_at);
-- At most one unfinished rotation per held credential.
CREATE UNIQUE INDEX rotations_one_active ON rotations (held_id) WHERE state NOT IN ('done', 'rolled_back');
