-- Issued tokens (grants) and revocations. A token is never stored: a grant
-- keeps token_hash, the hex SHA-256 of the token, which the gateway looks
-- up. Times are TEXT as in 0001, so text order is time order.

CREATE TABLE grants (
	id            TEXT PRIMARY KEY,
	token_hash    TEXT NOT NULL UNIQUE, -- the unique index is the lookup index
	class         TEXT NOT NULL,
	issuer        TEXT NOT NULL,
	subject       TEXT NOT NULL,
	policy        TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL DEFAULT '',
	scope         TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
	audience      TEXT NOT NULL DEFAULT '',
	environment   TEXT NOT NULL DEFAULT '',
	credentials   TEXT NOT NULL DEFAULT '[]', -- JSON array of held credential ids
	issued_at     TEXT NOT NULL,
	expires_at    TEXT NOT NULL,
	revoked_at    TEXT,
	revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX grants_issuer_subject ON grants (issuer, subject);
CREATE INDEX grants_role ON grants (role);
CREATE INDEX grants_policy ON grants (policy);

-- Every revocation, in order: seq is what watchers resume from. Writers
-- are serialised (BEGIN IMMEDIATE), so seq order is commit order.
CREATE TABLE revocations (
	seq    INTEGER PRIMARY KEY,
	"by"   TEXT NOT NULL, -- token, workload, role, policy, credential
	value  TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	at     TEXT NOT NULL,
	grants INTEGER NOT NULL -- active grants it matched when made
);
