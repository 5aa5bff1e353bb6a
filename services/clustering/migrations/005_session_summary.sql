-- A session's summary before any reflection: its top prompt phrases, tools and models
-- (libs/sessions/summary.py), kept up to date by clustering as the session changes, so a card
-- never computes it per request. Members carry the tool and model they were made with for it.
ALTER TABLE members ADD COLUMN tool text;
ALTER TABLE members ADD COLUMN model text;
ALTER TABLE sessions ADD COLUMN summary jsonb NOT NULL DEFAULT '{"phrases": [], "tools": [], "models": []}';

-- Recreated with the new column last (CREATE OR REPLACE VIEW may only append columns).
CREATE OR REPLACE VIEW session_cards AS
    SELECT session_id, tenant_id, start_at, end_at, asset_count, precision, cover_asset_ids, updated_at,
           reflection_summary, summary
    FROM sessions WHERE merged_into IS NULL;
