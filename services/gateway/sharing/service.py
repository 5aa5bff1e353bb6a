"""The rules of saved searches and share links.

Choices where the issue is silent:
- A workspace keeps at most `MAX_SAVED_SEARCHES` (200) saved searches: one list, no paging; a 201st
  is a 409 saying so, as is a name the workspace already uses.
- A share link's token is `secrets.token_urlsafe(32)` (256 bits), kept only as its SHA-256 with its
  first characters to recognise it by. It shows ONE session: the session it was made for, or the one
  that session was merged into (followed on every read, as `GET /sessions/{id}` does).
- A link that is unknown, expired or revoked (revoking deletes it) is a 404, all alike: a visitor
  learns nothing about whether a link ever existed. Expired rows stay listed for the owner until
  revoked.
- Prompts are hidden unless the owner allowed them: prompt, negative prompt, file name (names often
  carry the prompt), the session summary's prompt phrases and the reflection summary (written from
  the prompts). Tools, models and the generation settings are shown.
- Images the owner rejected are left out of everything a link shows: its assets (JSON, pages and
  thumbnails), its count, its cover, and, when a reject was left out, the summary's tools, models and
  prompt phrases and the session's start and end, recomputed from the images shown (a person who
  rejected an image does not want it shown to others). Flags themselves are never shown: picks look
  like any other image.
- Nothing is rate-limited yet: the token's 256 bits make guessing hopeless, but a public route should
  still get a per-address limit before launch (noted in the README).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from libs.sessions.summary import MemberGroup, summarize
from services.gateway import repository as gateway_repository
from services.gateway.auth import AuthSubject
from services.gateway.pagination import Cursor
from services.gateway.sharing import repository

MAX_SAVED_SEARCHES = 200
# `atelier`'s own API tokens show 12; a share token has no `atl_` in front
SHARE_PREFIX_LENGTH = 8
# what a link's visitors see of the owner's flags: the gallery's default, rejects left out (the rows
# then carry each asset's `flag`, which the public JSON leaves out: services/gateway/sharing/endpoints.py)
VISITORS_VIEW = gateway_repository.FlagFilter()


class NameTaken(Exception):
    pass


class TooMany(Exception):
    pass


class NoSuchSession(LookupError):
    pass


async def save_search(
    pool: asyncpg.Pool, subject: AuthSubject, name: str, query: dict[str, Any]
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        await repository.lock_saved_searches(conn, subject)
        if await repository.count_saved_searches(conn, subject) >= MAX_SAVED_SEARCHES:
            raise TooMany(f"a workspace keeps at most {MAX_SAVED_SEARCHES} saved searches; delete one first")
        try:
            async with conn.transaction():
                return await repository.insert_saved_search(conn, subject, name, query)
        except asyncpg.UniqueViolationError:
            raise NameTaken(f"a saved search is already named {name!r}") from None


async def saved_searches(pool: asyncpg.Pool, subject: AuthSubject) -> list[asyncpg.Record]:
    return await repository.saved_searches(pool, subject)


async def delete_search(pool: asyncpg.Pool, subject: AuthSubject, search_id: uuid.UUID) -> bool:
    return await repository.delete_saved_search(pool, subject, search_id)


def new_share_token() -> str:
    return secrets.token_urlsafe(32)


async def create_share(pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID, *, days: int,
                       show_prompts: bool) -> tuple[str, asyncpg.Record]:  # fmt: skip
    """A link to the session (the survivor when `session_id` was merged away); `NoSuchSession` if none."""
    row, resolved = await gateway_repository.session(pool, subject, session_id)
    if row is None:
        raise NoSuchSession(session_id)
    token = new_share_token()
    share = await repository.insert_share(pool, subject, resolved, token, token[:SHARE_PREFIX_LENGTH],
                                          show_prompts, timedelta(days=days))  # fmt: skip
    return token, share


async def shares_of_session(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The session's links, including those made for sessions merged into it; `NoSuchSession` if none."""
    row, resolved = await gateway_repository.session(pool, subject, session_id)
    if row is None:
        raise NoSuchSession(session_id)
    ids = [resolved, *await repository.merged_into(pool, subject, resolved)]
    return await repository.shares_of(pool, subject, ids)


async def revoke_share(pool: asyncpg.Pool, subject: AuthSubject, share_id: uuid.UUID) -> bool:
    return await repository.delete_share(pool, subject, share_id)


@dataclass(frozen=True)
class Share:
    """An open link: the subject its reads are scoped to (the owner's workspace) and its one session."""

    subject: AuthSubject
    session_id: uuid.UUID  # as made; resolve it (merges) before reading
    show_prompts: bool


async def open_share(pool: asyncpg.Pool, token: str) -> Share | None:
    """What a live token opens, or None (unknown, expired or revoked)."""
    if not token or len(token) > 100:
        return None
    row = await repository.share_by_token(pool, token)
    if row is None:
        return None
    return Share(AuthSubject(row["tenant_id"], row["tenant_name"], row["time_zone"]), row["session_id"],
                 row["show_prompts"])  # fmt: skip


async def shared_session(
    pool: asyncpg.Pool, share: Share
) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    """The link's session card and its assets in time order, or None when the session is gone."""
    row, resolved = await gateway_repository.session(pool, share.subject, share.session_id)
    if row is None:
        return None
    return row, await gateway_repository.session_assets(pool, share.subject, resolved, flags=VISITORS_VIEW)


def shown_card(row: asyncpg.Record, assets: list[asyncpg.Record]) -> dict[str, Any]:
    """The card's `start_at`, `end_at`, `asset_count`, `cover_asset_ids` and `summary` of the images a link
    shows (`assets`: all of them, rejects left out). Clustering's card counts every member, so when a
    reject was left out its figures are recomputed from what is shown, as clustering computes them."""
    shown = {a["asset_id"] for a in assets}
    cover = [c for c in row["cover_asset_ids"] if c in shown] or [a["asset_id"] for a in assets[:1]]
    card = {"start_at": row["start_at"], "end_at": row["end_at"], "asset_count": len(assets), "rejected_count": 0,
            "cover_asset_ids": cover, "summary": dict(row["summary"] or {})}  # fmt: skip
    if len(assets) == row["asset_count"]:
        return card
    card["summary"] = summarize(MemberGroup(a["prompt"], a["tool"], a["model"], 1) for a in assets)
    if times := [a["generated_at"] for a in assets if a["generated_at"] is not None]:
        card["start_at"], card["end_at"] = min(times), max(times)
    return card


async def shared_assets(pool: asyncpg.Pool, share: Share, *, limit: int,
                        after: Cursor | None) -> list[asyncpg.Record] | None:  # fmt: skip
    """A page of the link's session's assets in generation order, or None when the session is gone."""
    resolved = await gateway_repository.resolve_session(pool, share.subject, share.session_id)
    rows = await gateway_repository.session_assets(pool, share.subject, resolved, limit=limit, after=after,
                                                   flags=VISITORS_VIEW)  # fmt: skip
    if not rows and (await gateway_repository.session(pool, share.subject, resolved))[0] is None:
        return None
    return rows


async def shared_asset(pool: asyncpg.Pool, share: Share, asset_id: uuid.UUID) -> asyncpg.Record | None:
    """The asset when it belongs to the link's session (now) and was not rejected, else None."""
    resolved = await gateway_repository.resolve_session(pool, share.subject, share.session_id)
    row = await gateway_repository.asset(pool, share.subject, asset_id)
    if row is None or row["session_id"] != resolved or not shown(row["flag"]):
        return None
    return row


def shown(flag: str | None) -> bool:
    """Whether `VISITORS_VIEW` shows an asset flagged `flag` (for a read of one asset, by its flag)."""
    if VISITORS_VIEW.flag is not None:
        return flag == VISITORS_VIEW.flag
    return VISITORS_VIEW.include_rejected or flag != "reject"
