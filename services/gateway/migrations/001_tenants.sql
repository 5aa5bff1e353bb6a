-- Who may ask: tenants and their API tokens (stored as SHA-256, never in clear).
CREATE TABLE tenants (
    tenant_id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    time_zone text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    token_sha256 bytea PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Files staged for import: a second upload of the same bytes is a duplicate even while
-- the first is still in the pipeline.
CREATE TABLE uploads (
    asset_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    sha256 text NOT NULL,
    filename text NOT NULL,
    staged_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, sha256)
);
