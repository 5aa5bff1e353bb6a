-- Per-workspace upload limits (services/gateway/quotas.py), here so that every gateway replica
-- counts against the same numbers.

-- Token buckets: `tokens` as of `refilled_at`; a reader adds what refilled since (the rate is a
-- setting, so changing it takes effect at once). One row per workspace and bucket, locked for
-- the few statements of one admission.
CREATE TABLE upload_buckets (
    tenant_id uuid NOT NULL,
    bucket text NOT NULL CHECK (bucket IN ('requests', 'files')),
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, bucket)
);

-- Files staged and not yet imported or quarantined: one row per `asset.uploaded` the gateway
-- queued. Rows whose asset ingest has settled (ingest.asset_status) are deleted when the workspace
-- is next counted, so the table holds about one workspace's backlog, never its history.
CREATE TABLE queued_uploads (
    tenant_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, asset_id)
);
