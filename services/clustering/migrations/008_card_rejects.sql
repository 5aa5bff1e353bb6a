-- A session's card leaves out what the person rejected. Its cover was chosen at import, before any
-- flag, so a rejected image stayed on the card; and the card said "24 images" where the session's page,
-- which hides rejects, listed 22. The card now shows its cover less the rejects and says how many of
-- its images are rejected (`asset_count` still counts every member: a session is what segmentation
-- found, and reflections price on it).
--
-- Computed when read, not kept on the session: a flag changes no session row, and a page of cards
-- reads its rejects from the flags' (tenant, flag, time) index, the flags within each card's time
-- span (a session's members lie within its start and end), each then one probe of its member.
CREATE OR REPLACE VIEW session_cards AS
    SELECT s.session_id, s.tenant_id, s.start_at, s.end_at, s.asset_count, s.precision,
           coalesce(
               nullif(ARRAY(SELECT c FROM unnest(s.cover_asset_ids) WITH ORDINALITY AS u(c, n)
                            WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.tenant_id = s.tenant_id
                                              AND f.asset_id = u.c AND f.flag = 'reject')
                            ORDER BY u.n), '{}'),
               -- every cover image rejected: the session's first images that are not
               ARRAY(SELECT m.asset_id FROM members m
                     WHERE m.tenant_id = s.tenant_id AND m.session_id = s.session_id
                       AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.tenant_id = m.tenant_id
                                       AND f.asset_id = m.asset_id AND f.flag = 'reject')
                     ORDER BY m.generated_at, m.asset_id LIMIT 4)
           ) AS cover_asset_ids,
           s.updated_at, s.reflection_summary, s.summary,
           (SELECT count(*) FROM flags f
            JOIN members m ON m.tenant_id = f.tenant_id AND m.asset_id = f.asset_id
            WHERE f.tenant_id = s.tenant_id AND f.flag = 'reject'
              AND f.generated_at BETWEEN s.start_at AND s.end_at AND m.session_id = s.session_id)::int
           AS rejected_count
    FROM sessions s WHERE s.merged_into IS NULL;
