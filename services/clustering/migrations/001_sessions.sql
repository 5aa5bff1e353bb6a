-- Sessions: bursts of generation, kept up to date as assets arrive.
CREATE TABLE tenant_state (
    tenant_id uuid PRIMARY KEY,
    -- bumped by every batch that changes the tenant: a replica whose cached timeline has an
    -- older version reloads it (after a partition moved to it)
    version bigint NOT NULL DEFAULT 0,
    gap_minutes integer,           -- the tenant's own fixed gap; NULL = the default rule
    cuts_before text[] NOT NULL DEFAULT '{}',
    joins jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE sessions (
    session_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    asset_count integer NOT NULL,
    precision text NOT NULL DEFAULT 'second',
    cover_asset_ids uuid[] NOT NULL DEFAULT '{}',
    -- set when this session was merged away: links to it resolve to this id
    merged_into uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_tenant_start ON sessions (tenant_id, start_at DESC) WHERE merged_into IS NULL;

CREATE TABLE members (
    asset_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    session_id uuid,
    generated_at timestamptz NOT NULL,
    precision text NOT NULL,
    prompt text,
    dominant_color text,
    thumbnail_key text
);
CREATE INDEX members_session ON members (session_id);
CREATE INDEX members_tenant ON members (tenant_id);

-- The read contract for the gateway.
CREATE VIEW session_cards AS
    SELECT session_id, tenant_id, start_at, end_at, asset_count, precision, cover_asset_ids, updated_at
    FROM sessions WHERE merged_into IS NULL;

CREATE VIEW session_redirects AS
    SELECT session_id, tenant_id, merged_into FROM sessions WHERE merged_into IS NOT NULL;

CREATE VIEW session_members AS
    SELECT asset_id, tenant_id, session_id, generated_at, precision FROM members WHERE session_id IS NOT NULL;
