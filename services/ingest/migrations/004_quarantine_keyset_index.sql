-- The gateway pages quarantined files by keyset (services/gateway/repository.py `quarantined`):
-- newest first by (quarantined_at, asset_id).
CREATE INDEX quarantine_tenant_at_id ON quarantine (tenant_id, quarantined_at, asset_id);
