-- A daily rollup of usage records, so that summaries over whole days (the
-- console's overview and usage pages, `aicred usage`) read one row per day
-- and group rather than every record. RecordUsage adds each batch to it in
-- the same transaction as the records. Costs are integer nano-dollars,
-- each record's cost rounded as aicred.UsageCostNanos rounds it
-- (floor(cost * 1e9 + 0.5) in double precision), so sums are exact and
-- equal the records'. day is the record's UTC date.
CREATE TABLE usage_daily (
	day                date NOT NULL,
	workload           text NOT NULL,
	role               text NOT NULL,
	provider           text NOT NULL,
	model              text NOT NULL,
	operation          text NOT NULL,
	credential_id      text NOT NULL,
	requests           bigint NOT NULL,
	errors             bigint NOT NULL,
	input_tokens       bigint NOT NULL,
	cached_tokens      bigint NOT NULL,
	cache_write_tokens bigint NOT NULL,
	output_tokens      bigint NOT NULL,
	units              bigint NOT NULL,
	cost_nusd          bigint NOT NULL,
	estimated          bigint NOT NULL,
	estimated_nusd     bigint NOT NULL,
	first_at           timestamptz NOT NULL,
	last_at            timestamptz NOT NULL,
	PRIMARY KEY (day, workload, role, provider, model, operation, credential_id)
);

-- Records written before this migration.
INSERT INTO usage_daily (day, workload, role, provider, model, operation, credential_id,
	requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
	cost_nusd, estimated, estimated_nusd, first_at, last_at)
SELECT (at AT TIME ZONE 'UTC')::date, workload, role, provider, model, operation, credential_id,
	count(*), count(*) FILTER (WHERE outcome <> 'ok'), sum(input_tokens), sum(cached_tokens),
	sum(cache_write_tokens), sum(output_tokens), sum(units),
	coalesce(sum(floor(cost_usd * 1e9::float8 + 0.5::float8)::bigint), 0),
	count(*) FILTER (WHERE estimated),
	coalesce(sum(floor(cost_usd * 1e9::float8 + 0.5::float8)::bigint) FILTER (WHERE estimated), 0),
	min(at), max(at)
FROM usage_records
GROUP BY 1, 2, 3, 4, 5, 6, 7;
