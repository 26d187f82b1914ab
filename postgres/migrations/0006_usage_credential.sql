-- The held credential the gateway injected for each request, so that a
-- leaked credential's gateway use can be traced (aicred trace). Empty for
-- records written before this column existed and for requests refused
-- before a key was chosen.
ALTER TABLE usage_records ADD COLUMN credential_id text NOT NULL DEFAULT '';
CREATE INDEX usage_records_credential_at ON usage_records (credential_id, at) WHERE credential_id <> '';
