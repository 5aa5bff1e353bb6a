-- Keepers paged from the flags (issue 14 follow-up). The gallery lists `flag=pick` newest first by the
-- asset's (generated_at, asset_id) (services/gateway/repository.py `assets`, `FlagFilter`). With only
-- (tenant_id, flag) on the flags, PostgreSQL either walked the assets' time index probing each asset for
-- a pick, or joined every pick to the other filters' matches and sorted: 282 ms of database time for
-- keepers + a one-word search, 528 ms for keepers + a tool (with their counts), at a million assets with
-- 57,900 picks. With the asset's time on its flags row and an index in the gallery's order, "this
-- workspace's picks, newest first, after this cursor" is a backward range of one index, each row then one
-- probe of its asset (7.6 and 6.0 ms). The gateway pages keepers by this copy of the time.

-- The asset's generation time as clustering placed it on the timeline (clustering.members, the
-- asset.imported time that ingest stored too); NULL for an asset with no time (it pages by import time,
-- which clustering does not keep, so the gateway pages those keepers from the assets as before).
ALTER TABLE flags ADD COLUMN generated_at timestamptz;

-- Kept by triggers, so no writer can forget it (set_flag's INSERT, the benchmark's COPY, a restore):
-- a flag written takes its asset's time; a member whose time changes, goes or comes back (deleted,
-- re-imported) takes its flag's time with it. The flag itself stays either way: it is the person's word.
CREATE FUNCTION flag_takes_member_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.generated_at := (SELECT m.generated_at FROM clustering.members m
                         WHERE m.asset_id = NEW.asset_id AND m.tenant_id = NEW.tenant_id);
    RETURN NEW;
END $$;
CREATE TRIGGER flags_take_member_time BEFORE INSERT OR UPDATE ON flags
    FOR EACH ROW EXECUTE FUNCTION flag_takes_member_time();

-- the BEFORE trigger above re-reads the member on any update of the flag row: touching it is enough
CREATE FUNCTION member_time_to_flag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE clustering.flags f SET generated_at = NULL
    WHERE f.tenant_id = coalesce(NEW.tenant_id, OLD.tenant_id) AND f.asset_id = coalesce(NEW.asset_id, OLD.asset_id);
    RETURN NULL;
END $$;
-- row triggers: no writer updates a member's time or deletes a member today, so these cost nothing
CREATE TRIGGER members_time_to_flag AFTER UPDATE OF generated_at ON members
    FOR EACH ROW WHEN (OLD.generated_at IS DISTINCT FROM NEW.generated_at) EXECUTE FUNCTION member_time_to_flag();
CREATE TRIGGER members_gone_from_flag AFTER DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION member_time_to_flag();

-- members arrive in batches on the import path: one statement per batch, not one per member
CREATE FUNCTION members_arrived_to_flags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE clustering.flags f SET generated_at = NULL
    FROM arrived n
    WHERE f.tenant_id = n.tenant_id AND f.asset_id = n.asset_id AND f.generated_at IS DISTINCT FROM n.generated_at;
    RETURN NULL;
END $$;
CREATE TRIGGER members_arrived_to_flags AFTER INSERT ON members
    REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT EXECUTE FUNCTION members_arrived_to_flags();

-- the flags written before this migration
UPDATE flags f SET generated_at = m.generated_at
FROM members m WHERE m.asset_id = f.asset_id AND m.tenant_id = f.tenant_id;

-- The gallery's keyset order within one flag. It replaces (tenant_id, flag), its prefix (the keepers'
-- count reads it the same way, index only).
CREATE INDEX flags_tenant_flag_time_id ON flags (tenant_id, flag, generated_at, asset_id);
DROP INDEX flags_tenant_flag;

-- No parallel scans of the flags: a page of keepers reads ~100-1,300 of them from the index (6.5 ms at a
-- million assets with a one-word search), and a parallel plan the planner costs lower starts its workers
-- in 20-30 ms on a busy 2-core machine (33 ms).
ALTER TABLE flags SET (parallel_workers = 0);

-- the planner's statistics for the new column now, not whenever autovacuum gets to it
ANALYZE flags;

-- The read contract gains the time at its end (a view may only grow).
CREATE OR REPLACE VIEW asset_flags AS
    SELECT tenant_id, asset_id, flag, updated_at, generated_at FROM flags;
