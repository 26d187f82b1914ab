-- A daily rollup of usage records, so that summaries over whole days (the
-- console's overview and usage pages, `aicred usage`) read one row per day
-- and group rather than every record. RecordUsage adds each batch to it in
-- the same transaction as the records. Costs are integer nano-dollars,
-- each record's cost rounded as aicred.UsageCostNanos rounds it
-- (floor(cost * 1e9 + 0.5)), so sums are exact and equal the records'.
-- day is the UTC date (the first ten characters of the record's time).
CREATE TABLE usage_daily (
	day                TEXT NOT NULL,
	workload           TEXT NOT NULL,
	role               TEXT NOT NULL,
	provider           TEXT NOT NULL,
	model              TEXT NOT NULL,
	operation          TEXT NOT NULL,
	credential_id      TEXT NOT NULL,
	requests           INTEGER NOT NULL,
	errors             INTEGER NOT NULL,
	input_tokens       INTEGER NOT NULL,
	cached_tokens      INTEGER NOT NULL,
	cache_write_tokens INTEGER NOT NULL,
	output_tokens      INTEGER NOT NULL,
	units              INTEGER NOT NULL,
	cost_nusd          INTEGER NOT NULL,
	estimated          INTEGER NOT NULL,
	estimated_nusd     INTEGER NOT NULL,
	first_at           TEXT NOT NULL,
	last_at            TEXT NOT NULL,
	PRIMARY KEY (day, workload, role, provider, model, operation, credential_id)
) WITHOUT ROWID;

-- Records written before this migration.
INSERT INTO usage_daily (day, workload, role, provider, model, operation, credential_id,
	requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
	cost_nusd, estimated, estimated_nusd, first_at, last_at)
SELECT substr(at, 1, 10), workload, role, provider, model, operation, credential_id,
	count(*), sum(CASE WHEN outcome <> 'ok' THEN 1 ELSE 0 END), sum(input_tokens), sum(cached_tokens),
	sum(cache_write_tokens), sum(output_tokens), sum(units),
	sum(CAST(cost_usd * 1e9 + 0.5 AS INTEGER)),
	sum(CASE WHEN estimated THEN 1 ELSE 0 END),
	sum(CASE WHEN estimated THEN CAST(cost_usd * 1e9 + 0.5 AS INTEGER) ELSE 0 END),
	min(at), max(at)
FROM usage_records
GROUP BY substr(at, 1, 10), workload, role, provider, model, operation, credential_id;
