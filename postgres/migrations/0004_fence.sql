-- Objects the gateway created on a workload's behalf, workload holds, and
-- the replay refusal shared by every process on the store.

-- One row per provider-side object; the first recording keeps its owner.
-- seq orders the objects oldest first when created_at ties.
CREATE TABLE gateway_objects (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	provider   text NOT NULL,
	kind       text NOT NULL,
	id         text NOT NULL,
	purpose    text NOT NULL DEFAULT '',
	token_id   text NOT NULL,
	workload   text NOT NULL,
	role       text NOT NULL,
	calls      text[] NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL,
	UNIQUE (provider, kind, id)
);
CREATE INDEX gateway_objects_workload ON gateway_objects (workload, created_at);
CREATE INDEX gateway_objects_role ON gateway_objects (role, created_at);

-- A held workload may not exchange for new tokens until "until", or until
-- an administrator lifts the hold (the row is deleted).
CREATE TABLE workload_holds (
	workload       text PRIMARY KEY, -- issuer + ' ' + subject
	until          timestamptz NOT NULL,
	reason         text NOT NULL DEFAULT '',
	created_by     text NOT NULL DEFAULT '',
	created_at     timestamptz NOT NULL,
	revocation_seq bigint NOT NULL DEFAULT 0
);

-- Presented workload JWTs, by a hash of issuer and jti, until they expire.
-- A row whose "until" has passed may be taken again.
CREATE TABLE replay_keys (
	key_hash text PRIMARY KEY,
	until    timestamptz NOT NULL
);
CREATE INDEX replay_keys_until ON replay_keys (until);
