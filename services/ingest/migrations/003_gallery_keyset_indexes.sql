-- The gateway's gallery pages by keyset (services/gateway/repository.py `assets`): assets with a time,
-- newest first by (generated_at, asset_id), then those without one by (imported_at, asset_id). One index
-- per part, each read backwards from the cursor.
CREATE INDEX assets_tenant_generated_id ON assets (tenant_id, generated_at, asset_id) WHERE generated_at IS NOT NULL;
CREATE INDEX assets_tenant_untimed_imported_id ON assets (tenant_id, imported_at, asset_id) WHERE generated_at IS NULL;
