-- How many of a workspace's assets have each tool, model and LoRA, kept as assets arrive, so the
-- gallery's filter menus over the whole library (`GET /api/v1/facets`) read a few hundred rows
-- instead of grouping a million assets (1.2 s at a million).
--
-- Two tables, so that importing never waits on a counter:
-- - `facet_count_changes`: what each insert added, appended by a statement trigger on `assets`. No
--   unique key, so concurrent imports of one workspace never lock each other (a counter row updated
--   from several ingest transactions, each inserting one asset per statement in its own order,
--   would deadlock them).
-- - `facet_counts`: the folded totals. `fold_facet_changes()` moves the changes into it in one
--   statement; ingest calls it after each batch, and any replica may (it takes an advisory lock,
--   and a replica that finds it taken leaves the work to the holder).
-- A reader sums both for its workspace: the same statement sees a fold wholly or not at all.
CREATE TABLE facet_counts (
    tenant_id uuid NOT NULL,
    facet text NOT NULL CHECK (facet IN ('tool', 'model', 'lora')),
    value text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (tenant_id, facet, value)
);

CREATE TABLE facet_count_changes (
    tenant_id uuid NOT NULL,
    facet text NOT NULL,
    value text NOT NULL,
    n bigint NOT NULL
);
CREATE INDEX facet_count_changes_tenant ON facet_count_changes (tenant_id);

CREATE FUNCTION count_facets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingest.facet_count_changes (tenant_id, facet, value, n)
    SELECT tenant_id, facet, value, TG_ARGV[0]::int * count(*)
    FROM (
        SELECT tenant_id, 'tool' AS facet, tool AS value FROM changed WHERE tool IS NOT NULL
        UNION ALL
        SELECT tenant_id, 'model', model FROM changed WHERE model IS NOT NULL
        UNION ALL
        SELECT tenant_id, 'lora', l FROM changed, unnest(changed.loras) AS l
    ) v
    GROUP BY tenant_id, facet, value;
    RETURN NULL;
END
$$;

-- assets are only inserted today; a delete (a workspace removed, an asset deleted later) takes its
-- counts away the same way, so the totals never drift from the table
CREATE TRIGGER assets_count_facets_insert AFTER INSERT ON assets
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_facets('1');
CREATE TRIGGER assets_count_facets_delete AFTER DELETE ON assets
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_facets('-1');

CREATE FUNCTION fold_facet_changes() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
    zero_tenants uuid[];
    zero_facets text[];
    zero_values text[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('ingest.fold_facet_changes')) THEN
        RETURN 0;
    END IF;
    -- the DELETE sees the changes committed when it starts; later ones wait for the next fold
    WITH moved AS (
        DELETE FROM ingest.facet_count_changes RETURNING tenant_id, facet, value, n
    ), totals AS (
        SELECT tenant_id, facet, value, sum(n) AS n FROM moved GROUP BY tenant_id, facet, value
    ), upserted AS (
        INSERT INTO ingest.facet_counts AS c (tenant_id, facet, value, n)
        SELECT tenant_id, facet, value, n FROM totals ORDER BY tenant_id, facet, value
        ON CONFLICT (tenant_id, facet, value) DO UPDATE SET n = c.n + excluded.n
        RETURNING c.tenant_id, c.facet, c.value, c.n
    )
    SELECT count(*), array_agg(tenant_id) FILTER (WHERE n = 0), array_agg(facet) FILTER (WHERE n = 0),
           array_agg(value) FILTER (WHERE n = 0)
    INTO folded, zero_tenants, zero_facets, zero_values
    FROM upserted;
    IF zero_tenants IS NOT NULL THEN
        DELETE FROM ingest.facet_counts c
        USING unnest(zero_tenants, zero_facets, zero_values) AS z(tenant_id, facet, value)
        WHERE (c.tenant_id, c.facet, c.value) = (z.tenant_id, z.facet, z.value) AND c.n = 0;
    END IF;
    RETURN folded;
END
$$;

-- the assets already here
INSERT INTO facet_counts (tenant_id, facet, value, n)
SELECT tenant_id, facet, value, count(*)
FROM (
    SELECT tenant_id, 'tool' AS facet, tool AS value FROM assets WHERE tool IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'model', model FROM assets WHERE model IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'lora', l FROM assets, unnest(assets.loras) AS l
) v
GROUP BY tenant_id, facet, value;

-- the read contract: a workspace's totals are the sum of its rows here (GROUP BY facet, value)
CREATE VIEW facet_totals AS
    SELECT tenant_id, facet, value, n FROM facet_counts
    UNION ALL
    SELECT tenant_id, facet, value, n FROM facet_count_changes;
