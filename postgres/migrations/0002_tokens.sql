-- Issued tokens (grants) and revocations. A token is never stored: a grant
-- keeps token_hash, the hex SHA-256 of the token, which the gateway looks
-- up.

CREATE TABLE grants (
	id            text PRIMARY KEY,
	token_hash    text NOT NULL UNIQUE, -- the unique index is the lookup index
	class         text NOT NULL,
	issuer        text NOT NULL,
	subject       text NOT NULL,
	policy        text NOT NULL DEFAULT '',
	role          text NOT NULL DEFAULT '',
	scope         text[] NOT NULL DEFAULT '{}',
	audience      text NOT NULL DEFAULT '',
	environment   text NOT NULL DEFAULT '',
	credentials   text[] NOT NULL DEFAULT '{}', -- held credential ids
	issued_at     timestamptz NOT NULL,
	expires_at    timestamptz NOT NULL,
	revoked_at    timestamptz,
	revoke_reason text NOT NULL DEFAULT ''
);
CREATE INDEX grants_issuer_subject ON grants (issuer, subject);
CREATE INDEX grants_role ON grants (role);
CREATE INDEX grants_policy ON grants (policy);
-- Revocation by held credential: credentials @> ARRAY[id].
CREATE INDEX grants_credentials ON grants USING gin (credentials);

-- Every revocation, in order: seq is what watchers resume from. Every
-- writer holds the audit head row lock, so seq order is commit order.
CREATE TABLE revocations (
	seq    bigint PRIMARY KEY,
	"by"   text NOT NULL, -- token, workload, role, policy, credential
	value  text NOT NULL,
	reason text NOT NULL DEFAULT '',
	at     timestamptz NOT NULL,
	grants integer NOT NULL -- active grants it matched when made
);
