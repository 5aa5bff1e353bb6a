-- A session's card leaves out what the person rejected. Its cover was chosen at import, before any
-- flag, so a rejected image stayed on the card; and the card said "24 images" where the session's page,
-- which hides rejects, listed 22. The card now shows its cover without the rejects, topped up to its
-- size, and says how many of its images are rejected (`asset_count` still counts every member: a
-- session is what segmentation found, and reflections price on it).
--
-- Computed when read, not kept on the session: a flag changes no session row. A page of cards costs
-- one probe of the flags' (tenant, asset) key per cover for the common case (no rejected image on it),
-- and for the count, the flags' (tenant, flag, time) index within each card's span (a session's members
-- lie within its start and end), each reject then one probe of its member.
CREATE OR REPLACE VIEW session_cards AS
    SELECT s.session_id, s.tenant_id, s.start_at, s.end_at, s.asset_count, s.precision,
           CASE WHEN NOT EXISTS (SELECT 1 FROM flags f WHERE f.tenant_id = s.tenant_id
                                 AND f.asset_id = ANY (s.cover_asset_ids) AND f.flag = 'reject')
                THEN s.cover_asset_ids
                -- the rest of the cover in its order, then the session's first images that are neither
                -- on it nor rejected, up to the cover's size (no gap in the card's grid)
                ELSE ARRAY(
                    SELECT c.asset_id FROM (
                        SELECT u.asset_id, 0 AS part, u.n AS ord
                        FROM unnest(s.cover_asset_ids) WITH ORDINALITY AS u(asset_id, n)
                        UNION ALL
                        (SELECT m.asset_id, 1, row_number() OVER (ORDER BY m.generated_at, m.asset_id)
                         FROM members m
                         WHERE m.tenant_id = s.tenant_id AND m.session_id = s.session_id
                           AND m.asset_id <> ALL (s.cover_asset_ids)
                           AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.tenant_id = m.tenant_id
                                           AND f.asset_id = m.asset_id AND f.flag = 'reject')
                         ORDER BY m.generated_at, m.asset_id LIMIT cardinality(s.cover_asset_ids))
                    ) c
                    WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.tenant_id = s.tenant_id
                                      AND f.asset_id = c.asset_id AND f.flag = 'reject')
                    ORDER BY c.part, c.ord LIMIT cardinality(s.cover_asset_ids))
           END AS cover_asset_ids,
           s.updated_at, s.reflection_summary, s.summary,
           (SELECT count(*) FROM flags f
            JOIN members m ON m.tenant_id = f.tenant_id AND m.asset_id = f.asset_id
            WHERE f.tenant_id = s.tenant_id AND f.flag = 'reject'
              AND f.generated_at BETWEEN s.start_at AND s.end_at AND m.session_id = s.session_id)::int
           AS rejected_count
    FROM sessions s WHERE s.merged_into IS NULL;
