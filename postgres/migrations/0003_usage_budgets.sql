-- Usage records from the gateway, and budgets shared by gateway processes
-- through leases.

CREATE TABLE usage_records (
	id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at                    timestamptz NOT NULL,
	token_id              text NOT NULL,
	workload              text NOT NULL DEFAULT '',
	role                  text NOT NULL DEFAULT '',
	environment           text NOT NULL DEFAULT '',
	provider              text NOT NULL,
	model                 text NOT NULL DEFAULT '',
	operation             text NOT NULL DEFAULT '',
	stream                boolean NOT NULL DEFAULT false,
	input_tokens          bigint NOT NULL DEFAULT 0,
	cached_tokens         bigint NOT NULL DEFAULT 0,
	cache_write_tokens    bigint NOT NULL DEFAULT 0,
	cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
	output_tokens         bigint NOT NULL DEFAULT 0,
	units                 bigint NOT NULL DEFAULT 0,
	unit                  text NOT NULL DEFAULT '',
	cost_usd              double precision NOT NULL DEFAULT 0,
	estimated             boolean NOT NULL DEFAULT false,
	status                integer NOT NULL DEFAULT 0,
	outcome               text NOT NULL,
	latency_ns            bigint NOT NULL DEFAULT 0,
	upstream_request_id   text NOT NULL DEFAULT '',
	source_ip             text NOT NULL DEFAULT '',
	user_agent            text NOT NULL DEFAULT ''
);
-- Summaries are nearly always over a time range, often for one workload
-- or role; a token's history is what incident response reads.
CREATE INDEX usage_records_at ON usage_records (at);
CREATE INDEX usage_records_workload_at ON usage_records (workload, at);
CREATE INDEX usage_records_role_at ON usage_records (role, at);
CREATE INDEX usage_records_token_at ON usage_records (token_id, at);

-- One row per budget scope (token:<id>, workload:<issuer subject>:<day>).
-- Amounts are integer nano-dollars so sums are exact. The row is the lock
-- that serialises allowances of one budget across processes.
CREATE TABLE budgets (
	scope      text PRIMARY KEY,
	limit_nusd bigint NOT NULL,
	spent_nusd bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- Outstanding allowances. A row is deleted when returned, or when it is
-- found expired, and then charged in full to its budget's spend.
CREATE TABLE budget_leases (
	id           text PRIMARY KEY,
	scope        text NOT NULL REFERENCES budgets (scope),
	holder       text NOT NULL,
	granted_nusd bigint NOT NULL,
	taken_at     timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL
);
CREATE INDEX budget_leases_scope_expires ON budget_leases (scope, expires_at);
