-- Whether gateways may inject a held credential: active, suspended (the
-- response policy or an administrator stopped its use) or revoked. The
-- reason and time of the last change go with it.
ALTER TABLE held_credentials ADD COLUMN status text NOT NULL DEFAULT 'active'
	CHECK (status IN ('active', 'suspended', 'revoked'));
ALTER TABLE held_credentials ADD COLUMN status_reason text NOT NULL DEFAULT '';
ALTER TABLE held_credentials ADD COLUMN status_at timestamptz;
