-- Quotes (a price shown to the person, valid until expires_at) and reflections with what they rest on.
CREATE TABLE quotes (
    quote_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    session_id uuid NOT NULL,
    model text NOT NULL,
    credits integer NOT NULL CHECK (credits >= 0),
    prompt_tokens integer NOT NULL CHECK (prompt_tokens >= 0),
    answer_tokens integer NOT NULL CHECK (answer_tokens >= 0),
    asset_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX quotes_session ON quotes (tenant_id, session_id, created_at DESC);

-- pending (the gateway asked) -> running (a worker took it) -> completed | failed
ALTER TABLE reflections ALTER COLUMN status SET DEFAULT 'pending';
UPDATE reflections SET status = 'pending' WHERE status = 'requested';
ALTER TABLE reflections
    ADD COLUMN quote_id uuid,
    ADD COLUMN reservation_id uuid,
    ADD COLUMN credits_reserved integer,
    ADD COLUMN credits_charged integer,
    ADD COLUMN model text,
    ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN cost_usd double precision,
    ADD COLUMN sections jsonb,
    ADD COLUMN facts jsonb,
    ADD COLUMN dropped jsonb,
    ADD COLUMN curator text,
    ADD COLUMN error text,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT reflections_status CHECK (status IN ('pending', 'running', 'completed', 'failed'));
CREATE INDEX reflections_session_recent ON reflections (tenant_id, session_id, created_at DESC);

-- The read contract for the gateway: one row per reflection; `summary` is the card's paragraph.
CREATE VIEW reflection_cards AS
    SELECT reflection_id, tenant_id, session_id, status, quote_id, reservation_id, model, curator,
           credits_reserved, credits_charged, prompt_tokens, completion_tokens,
           summary,
           COALESCE(sections -> 'summary', '[]'::jsonb) AS summary_statements,
           COALESCE(sections -> 'style_patterns', '[]'::jsonb) AS style_patterns,
           COALESCE(sections -> 'evolution_notes', '[]'::jsonb) AS evolution_notes,
           COALESCE(facts, '[]'::jsonb) AS facts,
           error, created_at, started_at, completed_at, updated_at
    FROM reflections;

-- The latest completed reflection of each session, for its card (the gateway joins it on session_id).
CREATE VIEW session_reflection_summaries AS
    SELECT DISTINCT ON (tenant_id, session_id)
           tenant_id, session_id, reflection_id, summary, completed_at
    FROM reflections WHERE status = 'completed'
    ORDER BY tenant_id, session_id, completed_at DESC;
