"""SQL for the clustering schema: timelines in, session changes out. Every statement names its tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from libs.sessions.segmentation import ManualEdits, Moment
from libs.sessions.summary import MemberGroup
from services.clustering.covers import CoverCandidate

SCHEMA = "clustering"


@dataclass(frozen=True)
class TenantState:
    version: int
    gap_minutes: int | None
    edits: ManualEdits
    segmented_with: str | None = None  # the rule the stored sessions were cut with


@dataclass(frozen=True)
class NewMember:
    asset_id: uuid.UUID
    generated_at: datetime
    precision: str
    prompt: str | None
    dominant_color: str | None
    thumbnail_key: str | None
    tool: str | None = None
    model: str | None = None


async def lock_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> TenantState:
    """Lock the tenant's row for this transaction (created on first use) and read its state."""
    await conn.execute(
        "INSERT INTO clustering.tenant_state (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING", tenant_id
    )
    row = await conn.fetchrow(
        "SELECT version, gap_minutes, cuts_before, joins, segmented_with"
        " FROM clustering.tenant_state WHERE tenant_id = $1 FOR UPDATE",
        tenant_id,
    )
    assert row is not None
    edits = ManualEdits(
        cuts_before=frozenset(row["cuts_before"]), joins=frozenset(tuple(j) for j in row["joins"])
    )
    return TenantState(row["version"], row["gap_minutes"], edits, row["segmented_with"])


async def bump_version(conn: asyncpg.Connection, tenant_id: uuid.UUID, read_version: int) -> int:
    """Move the tenant from the version this transaction read to the next; returns the new version.

    One conditional UPDATE: its row count says whether the row was still at `read_version`. It
    always is while `lock_tenant`'s lock is held; a 0 means someone changed the tenant without it."""
    status = await conn.execute(
        "UPDATE clustering.tenant_state SET version = version + 1 WHERE tenant_id = $1 AND version = $2",
        tenant_id, read_version,
    )  # fmt: skip
    if status != "UPDATE 1":
        raise RuntimeError(
            f"tenant {tenant_id} is no longer at version {read_version}: changed without its lock"
        )
    return read_version + 1


async def save_gap_minutes(conn: asyncpg.Connection, tenant_id: uuid.UUID, gap_minutes: int | None) -> None:
    """The tenant's own fixed gap; None = the default rule."""
    await conn.execute(
        "UPDATE clustering.tenant_state SET gap_minutes = $2 WHERE tenant_id = $1", tenant_id, gap_minutes
    )


async def save_segmented_with(conn: asyncpg.Connection, tenant_id: uuid.UUID, rule: str) -> None:
    await conn.execute(
        "UPDATE clustering.tenant_state SET segmented_with = $2 WHERE tenant_id = $1", tenant_id, rule
    )


async def save_edits(conn: asyncpg.Connection, tenant_id: uuid.UUID, edits: ManualEdits) -> None:
    await conn.execute(
        "UPDATE clustering.tenant_state SET cuts_before = $2, joins = $3 WHERE tenant_id = $1",
        tenant_id, sorted(edits.cuts_before), sorted([list(j) for j in edits.joins]),
    )  # fmt: skip


async def load_timeline_rows(
    conn: asyncpg.Connection, tenant_id: uuid.UUID
) -> tuple[list[tuple[Moment, str]], dict[str, str]]:
    # the content the default rule reads across an ambiguous gap, as `handlers.moment_of` gave it at
    # import: prompt, tool, model kept with the member; seed (exact, from the facts' JSON: a ComfyUI seed
    # can pass bigint) and LoRAs from the asset's lineage facts
    members = await conn.fetch(
        "SELECT m.asset_id, m.generated_at, m.precision, m.session_id, m.prompt, m.model, m.tool,"
        " f.facts->>'seed' AS seed, f.facts->'loras' AS loras"
        " FROM clustering.members m LEFT JOIN clustering.asset_facts f USING (asset_id)"
        " WHERE m.tenant_id = $1 AND m.session_id IS NOT NULL",
        tenant_id,
    )
    merged = await conn.fetch(
        "SELECT session_id, merged_into FROM clustering.sessions WHERE tenant_id = $1 AND merged_into IS NOT NULL",
        tenant_id,
    )
    return (
        [(_stored_moment(r), r["session_id"].hex) for r in members],
        {r["session_id"].hex: r["merged_into"].hex for r in merged},
    )


def _stored_moment(r: asyncpg.Record) -> Moment:
    loras = tuple(sorted(r["loras"] or ()))
    return Moment(
        str(r["asset_id"]), r["generated_at"], r["precision"],
        prompt=r["prompt"], model=r["model"], tool=r["tool"],
        seed=int(r["seed"]) if r["seed"] is not None else None, loras=loras or None,
    )  # fmt: skip


async def insert_members(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, members: Sequence[tuple[NewMember, uuid.UUID]]
) -> None:
    """(member, session_id) pairs, each asset once, in one statement: a batch's new members arrive
    with their session, so each row is written once (no INSERT then UPDATE) and the statement runs
    once per batch rather than once per row. An asset already stored only takes the new session,
    as before (its other columns stay)."""
    if not members:
        return
    await conn.execute(
        """
        INSERT INTO clustering.members (asset_id, tenant_id, session_id, generated_at, precision, prompt,
            dominant_color, thumbnail_key, tool, model)
        SELECT asset_id, $1, session_id, generated_at, precision, prompt, dominant_color, thumbnail_key, tool, model
        FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[],
                    $9::text[], $10::text[])
            AS m(asset_id, session_id, generated_at, precision, prompt, dominant_color, thumbnail_key, tool, model)
        ON CONFLICT (asset_id) DO UPDATE SET session_id = EXCLUDED.session_id
            WHERE members.tenant_id = EXCLUDED.tenant_id
        """,
        tenant_id,
        [m.asset_id for m, _ in members],
        [s for _, s in members],
        [m.generated_at for m, _ in members],
        [m.precision for m, _ in members],
        [m.prompt for m, _ in members],
        [m.dominant_color for m, _ in members],
        [m.thumbnail_key for m, _ in members],
        [m.tool for m, _ in members],
        [m.model for m, _ in members],
    )


async def assign_members(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, assignments: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """(asset_id, session_id) pairs, each asset once, in one statement."""
    pairs = list(assignments)
    if not pairs:
        return
    await conn.execute(
        """
        UPDATE clustering.members AS m SET session_id = a.session_id
        FROM unnest($2::uuid[], $3::uuid[]) AS a(asset_id, session_id)
        WHERE m.tenant_id = $1 AND m.asset_id = a.asset_id
        """,
        tenant_id, [a for a, _ in pairs], [s for _, s in pairs],
    )  # fmt: skip


async def move_members(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, from_id: uuid.UUID, into_id: uuid.UUID
) -> None:
    await conn.execute(
        "UPDATE clustering.members SET session_id = $3 WHERE tenant_id = $1 AND session_id = $2",
        tenant_id, from_id, into_id,
    )  # fmt: skip
    await conn.execute(
        "UPDATE clustering.sessions SET merged_into = $3, asset_count = 0, cover_asset_ids = '{}', updated_at = now() "
        "WHERE tenant_id = $1 AND session_id = $2",
        tenant_id, from_id, into_id,
    )  # fmt: skip
    # earlier redirects to the merged-away session now point at the survivor directly
    await conn.execute(
        "UPDATE clustering.sessions SET merged_into = $3 WHERE tenant_id = $1 AND merged_into = $2",
        tenant_id, from_id, into_id,
    )  # fmt: skip


async def upsert_sessions(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    rows: Sequence[tuple[uuid.UUID, datetime, datetime, int, str, list[uuid.UUID], dict[str, Any]]],
) -> None:
    """(session_id, start, end, count, precision, cover, summary) rows."""
    await conn.executemany(
        """
        INSERT INTO clustering.sessions
            (session_id, tenant_id, start_at, end_at, asset_count, precision, cover_asset_ids, summary)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (session_id) DO UPDATE SET start_at = EXCLUDED.start_at, end_at = EXCLUDED.end_at,
            asset_count = EXCLUDED.asset_count, precision = EXCLUDED.precision,
            cover_asset_ids = EXCLUDED.cover_asset_ids, summary = EXCLUDED.summary, merged_into = NULL,
            updated_at = now()
        """,
        [
            (sid, tenant_id, start, end, count, precision, cover, summary)
            for sid, start, end, count, precision, cover, summary in rows
        ],
    )


async def member_groups(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[MemberGroup]]:
    """Each session's members grouped by (prompt, tool, model) with their count: the summary's input, one
    indexed query for every session a batch touched (a session's images share a few prompts)."""
    rows = await conn.fetch(
        """
        SELECT session_id, prompt, tool, model, count(*) AS n FROM clustering.members
        WHERE tenant_id = $1 AND session_id = ANY($2::uuid[])
        GROUP BY session_id, prompt, tool, model
        """,
        tenant_id,
        list(session_ids),
    )
    groups: dict[uuid.UUID, list[MemberGroup]] = {sid: [] for sid in session_ids}
    for r in rows:
        groups[r["session_id"]].append(MemberGroup(r["prompt"], r["tool"], r["model"], r["n"]))
    return groups


async def current_covers(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await conn.fetch(
        "SELECT session_id, cover_asset_ids FROM clustering.sessions WHERE tenant_id = $1 AND session_id = ANY($2::uuid[])",
        tenant_id, list(session_ids),
    )  # fmt: skip
    return {r["session_id"]: list(r["cover_asset_ids"]) for r in rows}


async def cover_candidates(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    *,
    asset_ids: Sequence[uuid.UUID] = (),
    session_id: uuid.UUID | None = None,
    limit: int = 64,
) -> list[tuple[uuid.UUID, CoverCandidate]]:
    """(session_id, candidate) for the given assets, or a bounded sample of one session's members."""
    if session_id is not None:
        rows = await conn.fetch(
            "SELECT asset_id, session_id, generated_at, prompt, dominant_color FROM clustering.members "
            "WHERE tenant_id = $1 AND session_id = $2 ORDER BY generated_at LIMIT $3",
            tenant_id, session_id, limit,
        )  # fmt: skip
    else:
        rows = await conn.fetch(
            "SELECT asset_id, session_id, generated_at, prompt, dominant_color FROM clustering.members "
            "WHERE tenant_id = $1 AND asset_id = ANY($2::uuid[])",
            tenant_id, list(asset_ids),
        )  # fmt: skip
    return [
        (
            r["session_id"],
            CoverCandidate(str(r["asset_id"]), r["generated_at"], r["prompt"], r["dominant_color"]),
        )
        for r in rows
    ]
