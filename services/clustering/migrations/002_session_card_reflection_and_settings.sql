-- The card contract, complete: a session card carries its reflection summary (filled once
-- reflections exist; NULL until then). A manual edit or re-segmentation leaves it alone.
ALTER TABLE sessions ADD COLUMN reflection_summary text;

-- Recreated with the new column last (CREATE OR REPLACE VIEW may only append columns).
CREATE OR REPLACE VIEW session_cards AS
    SELECT session_id, tenant_id, start_at, end_at, asset_count, precision, cover_asset_ids, updated_at,
           reflection_summary
    FROM sessions WHERE merged_into IS NULL;

-- The tenant's session settings, for the gateway's settings page. A tenant without a row
-- has never changed anything: the default rule (gap_minutes NULL).
CREATE VIEW session_settings AS
    SELECT tenant_id, gap_minutes FROM tenant_state;
