-- Usage records from the gateway, and budgets shared by gateway processes
-- through leases. Times are TEXT as in 0001 (text order is time order; the
-- first ten characters are the UTC date, which day summaries group by).

CREATE TABLE usage_records (
	id                    INTEGER PRIMARY KEY,
	at                    TEXT NOT NULL,
	token_id              TEXT NOT NULL,
	workload              TEXT NOT NULL DEFAULT '',
	role                  TEXT NOT NULL DEFAULT '',
	environment           TEXT NOT NULL DEFAULT '',
	provider              TEXT NOT NULL,
	model                 TEXT NOT NULL DEFAULT '',
	operation             TEXT NOT NULL DEFAULT '',
	stream                INTEGER NOT NULL DEFAULT 0,
	input_tokens          INTEGER NOT NULL DEFAULT 0,
	cached_tokens         INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens    INTEGER NOT NULL DEFAULT 0,
	cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
	output_tokens         INTEGER NOT NULL DEFAULT 0,
	units                 INTEGER NOT NULL DEFAULT 0,
	unit                  TEXT NOT NULL DEFAULT '',
	cost_usd              REAL NOT NULL DEFAULT 0,
	estimated             INTEGER NOT NULL DEFAULT 0,
	status                INTEGER NOT NULL DEFAULT 0,
	outcome               TEXT NOT NULL,
	latency_ns            INTEGER NOT NULL DEFAULT 0,
	upstream_request_id   TEXT NOT NULL DEFAULT '',
	source_ip             TEXT NOT NULL DEFAULT '',
	user_agent            TEXT NOT NULL DEFAULT ''
);
-- Summaries are nearly always over a time range, often for one workload.
-- The embedded store lives in the gateway process, where every index is
-- paid on each usage record: role and token queries read the time index
-- (a token lives at most an hour), and PostgreSQL carries those indexes.
CREATE INDEX usage_records_at ON usage_records (at);
CREATE INDEX usage_records_workload_at ON usage_records (workload, at);

-- One row per budget scope (token:<id>, workload:<issuer subject>:<day>).
-- Amounts are integer nano-dollars so sums are exact.
CREATE TABLE budgets (
	scope      TEXT PRIMARY KEY,
	limit_nusd INTEGER NOT NULL,
	spent_nusd INTEGER NOT NULL DEFAULT 0,
	updated_at TEXT NOT NULL
);

-- Outstanding allowances. A row is deleted when returned, or when it is
-- found expired, and then charged in full to its budget's spend.
CREATE TABLE budget_leases (
	id           TEXT PRIMARY KEY,
	scope        TEXT NOT NULL REFERENCES budgets (scope),
	holder       TEXT NOT NULL,
	granted_nusd INTEGER NOT NULL,
	taken_at     TEXT NOT NULL,
	expires_at   TEXT NOT NULL
);
CREATE INDEX budget_leases_scope_expires ON budget_leases (scope, expires_at);
