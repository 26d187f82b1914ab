-- The web console's sessions, shared by every process on the file: a
-- request served by another process, or after a restart, finds the person
-- logged in, and a logout ends the session everywhere. key_hash is the
-- SHA-256 of the random id in the person's cookie; the id is not stored.
-- Times are TEXT in the audit log's format.
CREATE TABLE console_sessions (
	key_hash   TEXT PRIMARY KEY,
	actor      TEXT NOT NULL,
	name       TEXT NOT NULL,
	can_write  INTEGER NOT NULL,
	token_hash TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	expires    TEXT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires);
