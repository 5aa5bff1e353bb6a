"""Curation's logic in the gateway: the JSON of links and stacks, the change strip computed from
clustering's `member_facts` with the pure rule (`libs.lineage.changes.change_strip`), and the person's
edits (flags, stack edits) forwarded to clustering's internal API, which owns them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from libs.common.internal import call_internal
from libs.lineage.changes import change_strip
from libs.lineage.facts import Generation, LineageFacts
from services.gateway.auth import AuthSubject
from services.gateway.endpoints import thumb_url


def link_json(row: Any, other: str) -> dict[str, Any]:
    """A link as the asset's lineage lists it; `other`: the column naming the other end."""
    return {
        "asset_id": str(row[other]),
        "relation": row["relation"],
        "rule": row["rule"],
        "evidence": row["evidence"],
        "confidence": float(row["confidence"]),
        "explicit": row["explicit"],
        "thumbnail_url": thumb_url(row[other]),
    }


def edge_json(row: Any) -> dict[str, Any]:
    return {
        "parent_id": str(row["parent_id"]),
        "child_id": str(row["child_id"]),
        "relation": row["relation"],
        "confidence": float(row["confidence"]),
        "explicit": row["explicit"],
    }


def stack_json(row: Any) -> dict[str, Any]:
    return {
        "stack_id": str(row["stack_id"]),
        "cover_asset_id": str(row["cover_asset_id"]),
        "asset_ids": [str(a) for a in row["asset_ids"]],
        "size": row["size"],
        "manual": row["manual"],
        "reason": row["reason"],
        "cover_thumbnail_url": thumb_url(row["cover_asset_id"]),
    }


def generation(row: Any) -> Generation:
    """A `member_facts` row as the rules see it. The facts are taken as stored (`model_construct`):
    clustering already holds them, and the event's length limits are not the strip's business."""
    facts = LineageFacts.model_construct(
        seed=int(row["seed"]) if row["seed"] is not None else None,  # JSON text: exact past bigint
        negative_prompt=row["negative_prompt"],
        sampler=row["sampler"],
        steps=row["steps"],
        cfg=row["cfg"],
        loras=list(row["loras"] or []),
    )
    return Generation(
        asset_id=str(row["asset_id"]),
        generated_at=row["generated_at"],
        tool=row["tool"],
        prompt=row["prompt"],
        model=row["model"],
        width=row["width"],
        height=row["height"],
        facts=facts,
    )


def changes_json(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The change strip of a session's images (rows in generation order), steps that changed nothing
    left out."""
    return [dataclasses.asdict(step) for step in change_strip([generation(r) for r in rows]) if step.changed]


def stacks_json(rows: Iterable[Any]) -> dict[str, Any]:
    return {"stacks": [stack_json(r) for r in rows]}


async def forward(settings: Any, subject: AuthSubject, method: str, path: str, body: Any = None) -> Any:
    """Ask clustering's internal API, for the subject's tenant only; its refusals (404, 409) become ours."""
    response = await call_internal(
        settings,
        "clustering",
        settings.clustering_url,
        method,
        f"/internal/v1/tenants/{subject.tenant_id}{path}",
        **({"json": body} if body is not None else {}),
    )
    return response.json()
