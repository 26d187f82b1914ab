-- Objects the gateway created on a workload's behalf, workload holds, and
-- the replay refusal shared by every process on the store. Times are TEXT
-- as in 0001 (text order is time order).

-- One row per provider-side object; the first recording keeps its owner.
-- seq orders the objects oldest first when created_at ties.
CREATE TABLE gateway_objects (
	seq        INTEGER PRIMARY KEY,
	provider   TEXT NOT NULL,
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	purpose    TEXT NOT NULL DEFAULT '',
	token_id   TEXT NOT NULL,
	workload   TEXT NOT NULL,
	role       TEXT NOT NULL,
	calls      TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
	created_at TEXT NOT NULL,
	UNIQUE (provider, kind, id)
);
CREATE INDEX gateway_objects_workload ON gateway_objects (workload, created_at);
CREATE INDEX gateway_objects_role ON gateway_objects (role, created_at);

-- A held workload may not exchange for new tokens until "until", or until
-- an administrator lifts the hold (the row is deleted).
CREATE TABLE workload_holds (
	workload       TEXT PRIMARY KEY, -- issuer + " " + subject
	until          TEXT NOT NULL,
	reason         TEXT NOT NULL DEFAULT '',
	created_by     TEXT NOT NULL DEFAULT '',
	created_at     TEXT NOT NULL,
	revocation_seq INTEGER NOT NULL DEFAULT 0
);

-- Presented workload JWTs, by a hash of issuer and jti, until they expire.
-- A row whose "until" has passed may be taken again.
CREATE TABLE replay_keys (
	key_hash TEXT PRIMARY KEY,
	until    TEXT NOT NULL
);
CREATE INDEX replay_keys_until ON replay_keys (until);
