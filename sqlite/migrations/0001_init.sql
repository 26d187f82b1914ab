-- Inventory, held credentials and the audit log.
-- Times are TEXT in UTC, fixed width (2006-01-02T15:04:05.000000Z), so that
-- text order is time order; NULL means unknown.

CREATE TABLE credentials (
	fingerprint  TEXT PRIMARY KEY,
	provider     TEXT NOT NULL,
	kind         TEXT NOT NULL,
	capabilities TEXT NOT NULL DEFAULT '[]', -- JSON array
	redacted     TEXT NOT NULL DEFAULT '',
	recorded_at  TEXT NOT NULL,
	first_seen   TEXT,
	last_seen    TEXT,
	verification TEXT NOT NULL DEFAULT 'not-checked',
	verified_at  TEXT,
	owner        TEXT NOT NULL DEFAULT '',
	created_at   TEXT,
	rotated_at   TEXT,
	expires_at   TEXT
);
CREATE INDEX credentials_provider_kind ON credentials (provider, kind);

CREATE TABLE sightings (
	id           INTEGER PRIMARY KEY,
	key          TEXT NOT NULL UNIQUE, -- Sighting.Key
	fingerprint  TEXT NOT NULL REFERENCES credentials (fingerprint),
	place        TEXT NOT NULL,        -- Sighting.Place
	rule         TEXT NOT NULL,
	origin       TEXT NOT NULL,
	source       TEXT NOT NULL,
	path         TEXT NOT NULL,
	line         INTEGER NOT NULL,
	col          INTEGER NOT NULL,
	commit_id    TEXT NOT NULL,
	author_date  TEXT,
	locator      TEXT NOT NULL,
	scan_id      TEXT NOT NULL,
	seen_at      TEXT NOT NULL,
	last_seen_at TEXT NOT NULL
);
CREATE INDEX sightings_fingerprint_place ON sightings (fingerprint, place);

CREATE TABLE liveness_checks (
	id          INTEGER PRIMARY KEY,
	fingerprint TEXT NOT NULL REFERENCES credentials (fingerprint),
	checked_at  TEXT NOT NULL,
	result      TEXT NOT NULL,
	detail      TEXT NOT NULL
);
CREATE INDEX liveness_checks_fingerprint ON liveness_checks (fingerprint, checked_at);

CREATE TABLE credential_environments (
	fingerprint TEXT NOT NULL REFERENCES credentials (fingerprint),
	environment TEXT NOT NULL,
	PRIMARY KEY (fingerprint, environment)
);
CREATE INDEX credential_environments_environment ON credential_environments (environment);

CREATE TABLE credential_workloads (
	fingerprint TEXT NOT NULL REFERENCES credentials (fingerprint),
	workload    TEXT NOT NULL,
	PRIMARY KEY (fingerprint, workload)
);

CREATE TABLE held_credentials (
	id          TEXT PRIMARY KEY,
	provider    TEXT NOT NULL,
	kind        TEXT NOT NULL,
	fingerprint TEXT NOT NULL REFERENCES credentials (fingerprint),
	redacted    TEXT NOT NULL,
	environment TEXT NOT NULL,
	labels      TEXT NOT NULL DEFAULT '{}', -- JSON object
	created_at  TEXT NOT NULL,
	rotated_at  TEXT,
	expires_at  TEXT,
	key_id      TEXT NOT NULL,
	sealed      BLOB NOT NULL
);
CREATE INDEX held_credentials_fingerprint ON held_credentials (fingerprint);

-- The audit log: append-only, hash-chained (see package audit). There is no
-- index on subject yet: it would nearly double the cost of recording sightings;
-- a migration adds one when a query needs it.
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	subject   TEXT NOT NULL,
	data      TEXT NOT NULL, -- JSON object of strings
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);

-- The chain head, written in the same transaction as every append: a log
-- cut short no longer matches it.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Refuse edits through SQL; tampering that drops these is caught by
-- verification instead.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
