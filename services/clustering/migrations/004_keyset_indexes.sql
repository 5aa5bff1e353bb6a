-- The gateway pages by keyset (services/gateway/repository.py): sessions newest first by
-- (start_at, session_id), a session's assets in generation order by (generated_at, asset_id).
CREATE INDEX sessions_tenant_start_id ON sessions (tenant_id, start_at, session_id) WHERE merged_into IS NULL;
CREATE INDEX members_tenant_session_time_id ON members (tenant_id, session_id, generated_at, asset_id)
    WHERE session_id IS NOT NULL;
