"""The gateway's reads of curation: clustering's views, each through its `readable_*` statement
(services/gateway/repository.py), so every read is scoped to the asking workspace."""

from __future__ import annotations

import uuid

import asyncpg

from services.gateway.auth import AuthSubject
from services.gateway.repository import (
    readable_assets,
    readable_lineage_links,
    readable_member_facts,
    readable_session_assets,
    readable_session_stacks,
)

LINK_COLUMNS = "ll.parent_id, ll.child_id, ll.relation, ll.rule, ll.evidence, ll.confidence, ll.explicit"
# explicit links first (the file proves them), then the likeliest, then the oldest
LINK_ORDER = "ORDER BY ll.explicit DESC, ll.confidence DESC, ll.created_at, ll.parent_id, ll.child_id"
STACK_COLUMNS = "sk.stack_id, sk.cover_asset_id, sk.asset_ids, sk.size, sk.manual, sk.reason"
FACT_COLUMNS = (
    # the seed exact from the facts' JSON: the view's bigint column is NULL for a ComfyUI seed past 2^63
    "mf.asset_id, mf.generated_at, mf.tool, mf.prompt, mf.negative_prompt, mf.model, mf.loras, "
    "mf.lineage->>'seed' AS seed, "
    "mf.sampler, mf.steps, mf.cfg, mf.width, mf.height"
)


async def asset_exists(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> bool:
    q = readable_assets(subject)
    q.where(f"a.asset_id = {q.bind(asset_id)}")
    return bool(await pool.fetchval(*q.select("true")))


async def parents(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> list[asyncpg.Record]:
    """The links whose child is the asset."""
    q = readable_lineage_links(subject)
    q.where(f"ll.child_id = {q.bind(asset_id)}")
    return await pool.fetch(*q.select(LINK_COLUMNS, LINK_ORDER))


async def children(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> list[asyncpg.Record]:
    """The links whose parent is the asset."""
    q = readable_lineage_links(subject)
    q.where(f"ll.parent_id = {q.bind(asset_id)}")
    return await pool.fetch(*q.select(LINK_COLUMNS, LINK_ORDER))


async def session_edges(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The links with both ends in the session."""
    q = readable_lineage_links(subject)
    members = readable_session_assets(subject)
    members.where(f"m.session_id = {members.bind(session_id)}")
    inside = q.subquery(members, "m.asset_id")
    q.where(f"ll.parent_id IN ({inside})").where(f"ll.child_id IN ({inside})")
    return await pool.fetch(*q.select(LINK_COLUMNS, LINK_ORDER))


async def session_stacks(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The session's stacks in time order (by their first image)."""
    q = readable_session_stacks(subject)
    q.where(f"sk.session_id = {q.bind(session_id)}")
    return await pool.fetch(*q.select(STACK_COLUMNS, "ORDER BY sk.first_at, sk.stack_id"))


async def session_facts(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The generation parameters of the session's images, in generation order."""
    q = readable_member_facts(subject)
    q.where(f"mf.session_id = {q.bind(session_id)}")
    return await pool.fetch(*q.select(FACT_COLUMNS, "ORDER BY mf.generated_at, mf.asset_id"))
