-- The web console's sessions, shared by every process on the database: a
-- request served by another process, or after a restart, finds the person
-- logged in, and a logout ends the session everywhere. key_hash is the
-- SHA-256 of the random id in the person's cookie; the id is not stored.
CREATE TABLE console_sessions (
	key_hash   TEXT PRIMARY KEY,
	actor      TEXT NOT NULL,
	name       TEXT NOT NULL,
	can_write  BOOLEAN NOT NULL,
	token_hash TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	last_seen  TIMESTAMPTZ NOT NULL,
	expires    TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires);
