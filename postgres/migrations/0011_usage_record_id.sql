-- Each usage record's idempotency key, set by the gateway when it makes
-- the record (a UUIDv7). A batch whose COMMIT reached the database but
-- whose answer was lost is written again by the recorder's retry; the
-- unique index makes that second write a no-op for every record already
-- in, so the store never holds one answer twice (nor adds it twice to
-- usage_daily). NULL for records written before this column existed and
-- for records written without a key; NULLs never collide.
ALTER TABLE usage_records ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX usage_records_record_id ON usage_records (record_id);
