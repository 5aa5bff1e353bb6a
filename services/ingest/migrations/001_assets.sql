-- Assets and what was read from them. One row per (tenant, content): the same bytes
-- imported twice are one asset.
CREATE TABLE assets (
    asset_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    sha256 text NOT NULL,
    filename text NOT NULL,
    source text NOT NULL,
    folder text,
    size_bytes bigint NOT NULL,
    format text,
    tool text,
    prompt text,
    negative_prompt text,
    seed numeric(20, 0),
    model text,
    sampler text,
    steps integer,
    cfg double precision,
    width integer,
    height integer,
    generated_at timestamptz,
    timestamp_source text,
    timestamp_precision text,
    file_mtime timestamptz,
    card_key text,
    detail_key text,
    dominant_colors text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    metadata_error text,
    imported_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, sha256)
);
CREATE INDEX assets_tenant_time ON assets (tenant_id, generated_at);
CREATE INDEX assets_tenant_imported ON assets (tenant_id, imported_at DESC);

-- Files that could not be imported, with the reason the user sees. The original stays in
-- S3 so a later version of the reader can try again.
CREATE TABLE quarantine (
    asset_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    sha256 text NOT NULL,
    filename text NOT NULL,
    object_key text NOT NULL,
    reason text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_tenant ON quarantine (tenant_id, quarantined_at DESC);

-- The read contract other services may select from (the gateway); tables may change behind it.
CREATE VIEW asset_status AS
    SELECT asset_id, tenant_id, sha256, filename, 'ready'::text AS status, NULL::text AS reason, imported_at AS at
    FROM assets
    UNION ALL
    SELECT asset_id, tenant_id, sha256, filename, 'quarantined', reason, quarantined_at
    FROM quarantine;

CREATE VIEW asset_cards AS
    SELECT asset_id, tenant_id, sha256, filename, source, format, tool, prompt, negative_prompt, seed, model,
           sampler, steps, cfg, width, height, generated_at, timestamp_source, timestamp_precision,
           card_key, detail_key, dominant_colors, metadata, metadata_error, imported_at
    FROM assets;
