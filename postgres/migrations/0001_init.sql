-- Inventory, held credentials and the audit log. Objects are created in the
-- first schema of the search_path, so one database can hold several stores.

CREATE TABLE credentials (
	fingerprint  text PRIMARY KEY,
	provider     text NOT NULL,
	kind         text NOT NULL,
	capabilities text[] NOT NULL DEFAULT '{}',
	redacted     text NOT NULL DEFAULT '',
	recorded_at  timestamptz NOT NULL,
	first_seen   timestamptz,
	last_seen    timestamptz,
	verification text NOT NULL DEFAULT 'not-checked',
	verified_at  timestamptz,
	owner        text NOT NULL DEFAULT '',
	created_at   timestamptz,
	rotated_at   timestamptz,
	expires_at   timestamptz
);
CREATE INDEX credentials_provider_kind ON credentials (provider, kind);

CREATE TABLE sightings (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key          text NOT NULL UNIQUE, -- Sighting.Key
	fingerprint  text NOT NULL REFERENCES credentials (fingerprint),
	place        text NOT NULL,        -- Sighting.Place
	rule         text NOT NULL,
	origin       text NOT NULL,
	source       text NOT NULL,
	path         text NOT NULL,
	line         integer NOT NULL,
	col          integer NOT NULL,
	commit_id    text NOT NULL,
	author_date  timestamptz,
	locator      text NOT NULL,
	scan_id      text NOT NULL,
	seen_at      timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL
);
CREATE INDEX sightings_fingerprint_place ON sightings (fingerprint, place);

CREATE TABLE liveness_checks (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	fingerprint text NOT NULL REFERENCES credentials (fingerprint),
	checked_at  timestamptz NOT NULL,
	result      text NOT NULL,
	detail      text NOT NULL
);
CREATE INDEX liveness_checks_fingerprint ON liveness_checks (fingerprint, checked_at);

CREATE TABLE credential_environments (
	fingerprint text NOT NULL REFERENCES credentials (fingerprint),
	environment text NOT NULL,
	PRIMARY KEY (fingerprint, environment)
);
CREATE INDEX credential_environments_environment ON credential_environments (environment);

CREATE TABLE credential_workloads (
	fingerprint text NOT NULL REFERENCES credentials (fingerprint),
	workload    text NOT NULL,
	PRIMARY KEY (fingerprint, workload)
);

CREATE TABLE held_credentials (
	id          text PRIMARY KEY,
	provider    text NOT NULL,
	kind        text NOT NULL,
	fingerprint text NOT NULL REFERENCES credentials (fingerprint),
	redacted    text NOT NULL,
	environment text NOT NULL,
	labels      jsonb NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL,
	rotated_at  timestamptz,
	expires_at  timestamptz,
	key_id      text NOT NULL,
	sealed      bytea NOT NULL
);
CREATE INDEX held_credentials_fingerprint ON held_credentials (fingerprint);

-- The audit log: append-only, hash-chained (see package audit). No index
-- on subject yet (see the SQLite schema).
CREATE TABLE audit_log (
	seq       bigint PRIMARY KEY,
	at        timestamptz NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	subject   text NOT NULL,
	data      jsonb NOT NULL,
	prev_hash text NOT NULL,
	hash      text NOT NULL
);

-- The chain head. Every write transaction locks this row first (SELECT
-- ... FOR UPDATE), which serialises writers across processes; a log cut
-- short no longer matches it.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Refuse edits through SQL; tampering that drops these is caught by
-- verification instead.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
