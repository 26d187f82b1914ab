-- Whether gateways may inject a held credential: active, suspended (the
-- response policy or an administrator stopped its use) or revoked. The
-- reason and time of the last change go with it.
ALTER TABLE held_credentials ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE held_credentials ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE held_credentials ADD COLUMN status_at TEXT;
