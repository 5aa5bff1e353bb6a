"""Quotes and the reflection worker.

Who makes the reflection's row: either. The gateway should create it as `pending` when the person
confirms (`POST /internal/v1/tenants/{t}/reflections`), so the page can show it at once; when it did
not, the worker makes it on consuming `reflection.requested`. The worker marks it `running` (committed
at once, on its own connection), then in the consumer's transaction (the one that records the event in
the inbox) locks the row, computes the analysis, runs the curator, writes the reflection as
`completed` or `failed` and puts `reflection.completed` / `reflection.failed` in the outbox. A
redelivered event is stopped by the inbox; the same reflection requested again under another event id
is stopped by the row's status: it is never computed or charged twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from libs.common.consumer import Delivery
from libs.common.events import Event, ReflectionCompleted, ReflectionFailed, ReflectionRequested
from libs.common.outbox import add_to_outbox
from libs.common.storage import ObjectStore
from libs.reflection import pixels, pricing
from libs.reflection.analysis import MAX_REPRESENTATIVE_POOL, Analysis, AssetInfo, analyse
from libs.reflection.curator import build_prompt, summary_text
from services.reflection import repository
from services.reflection.curators import Curator, CuratorFailed
from services.reflection.repository import SCHEMA
from services.reflection.settings import ReflectionSettings

log = logging.getLogger(__name__)

REFLECTIONS = Counter(
    "atelier_reflections_total", "Reflections finished, by outcome and model", ["outcome", "model"]
)
TOKENS = Counter("atelier_reflection_tokens_total", "Model tokens used by reflections", ["model", "kind"])
COST = Counter(
    "atelier_reflection_cost_usd_total", "What reflections' model calls cost (our price table)", ["model"]
)
CREDITS = Counter("atelier_reflection_credits_charged_total", "Credits reflections settled", ["model"])
LATENCY = Histogram(
    "atelier_reflection_seconds",
    "Time to write one reflection (analysis and curator), by outcome",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
QUOTES = Counter("atelier_reflection_quotes_total", "Quote requests by outcome", ["outcome"])


def _pixel_features(data: bytes) -> dict[str, Any]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (128, 128))
        return pixels.features(image)


class QuoteRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SessionFacts:
    asset_count: int
    analysis: Analysis


class ReflectionService:
    def __init__(
        self, settings: ReflectionSettings, curator: Curator, store: ObjectStore | None = None
    ) -> None:
        self.settings = settings
        self.curator = curator
        self.store = store
        self.pool: asyncpg.Pool | None = None  # set once the runtime started

    async def _with_pixels(self, assets: list[AssetInfo], keys: dict[str, str]) -> list[AssetInfo]:
        """Perceptual hash, sharpness and exposure from each card thumbnail (an even sample of at most
        MAX_REPRESENTATIVE_POOL, the images representatives are chosen from). A thumbnail that cannot be
        read leaves its image without them: the analysis uses what it has."""
        store = self.store
        assert store is not None
        n = len(assets)
        limit = MAX_REPRESENTATIVE_POOL
        picked = range(n) if n <= limit else sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> tuple[int, dict[str, Any] | None]:
            key = keys.get(assets[i].asset_id)
            if not key:
                return i, None
            try:
                async with gate:
                    data = await store.get(store.thumbnails, key)
                return i, await asyncio.to_thread(_pixel_features, data)
            except Exception as exc:  # a missing or unreadable thumbnail only costs its features
                log.info("thumbnail not used", extra={"key": key, "error": repr(exc)[:200]})
                return i, None

        out = list(assets)
        for i, features in await asyncio.gather(*(one(i) for i in picked)):
            if features:
                out[i] = dataclasses.replace(out[i], **features)
        return out

    async def facts(
        self, conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, session_id: uuid.UUID
    ) -> SessionFacts:
        count, assets, keys = await repository.session_assets(
            conn, tenant_id, session_id, self.settings.reflection_max_images
        )
        others = await repository.other_sessions_prompts(conn, tenant_id, session_id)
        if self.store is not None and self.settings.reflection_thumbnail_features:
            assets = await self._with_pixels(assets, keys)
        analysis = await asyncio.to_thread(analyse, assets, others)
        return SessionFacts(count, analysis)

    async def quote(self, tenant_id: uuid.UUID, session_id: uuid.UUID) -> dict[str, Any]:
        assert self.pool is not None
        if not await repository.session_exists(self.pool, tenant_id, session_id):
            QUOTES.labels("unknown_session").inc()
            raise QuoteRefused(404, "no such session")
        facts = await self.facts(self.pool, tenant_id, session_id)
        minimum = self.settings.reflection_min_images
        if facts.asset_count < minimum:
            QUOTES.labels("too_few_images").inc()
            raise QuoteRefused(
                422,
                f"a reflection needs a session of at least {minimum} images; this one has {facts.asset_count}",
            )
        model = self.curator.model
        prompt_tokens = await asyncio.to_thread(self.curator.prompt_tokens, build_prompt(facts.analysis))
        answer_tokens = self.curator.answer_tokens
        credits = pricing.credits_for(model, prompt_tokens, answer_tokens)
        row = await repository.insert_quote(
            self.pool,
            tenant_id=tenant_id,
            session_id=session_id,
            model=model,
            credits=credits,
            prompt_tokens=prompt_tokens,
            answer_tokens=answer_tokens,
            asset_count=facts.asset_count,
            ttl_seconds=self.settings.reflection_quote_ttl_seconds,
        )
        QUOTES.labels("quoted").inc()
        return quote_json(row)

    # -- the worker ------------------------------------------------------------------------------
    async def handle_requested(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        # one reflection requested twice in a batch (the gateway published it again) is done once
        todo: dict[uuid.UUID, Delivery] = {}
        for delivery in deliveries:
            payload = delivery.payload
            assert isinstance(payload, ReflectionRequested)
            todo.setdefault(payload.reflection_id, delivery)
        # shown as running at once, on other connections and before this transaction locks any of the
        # rows (a pool connection waiting on a row this transaction holds would wait forever)
        for delivery in todo.values():
            await self._mark_running(conn, delivery.event, delivery.payload)  # type: ignore[arg-type]
        for delivery in todo.values():
            await self._one(conn, delivery.event, delivery.payload)  # type: ignore[arg-type]

    async def _mark_running(self, conn: asyncpg.Connection, event: Event, p: ReflectionRequested) -> None:
        tenant = event.tenant_id
        quote = await repository.find_quote(conn, tenant, p.quote_id)
        model = quote["model"] if quote else self.curator.model
        target: asyncpg.Connection | asyncpg.Pool = self.pool if self.pool is not None else conn
        await repository.create_pending(
            target, reflection_id=p.reflection_id, tenant_id=tenant, session_id=p.session_id,
            quote_id=p.quote_id, model=model, status="running",
        )  # fmt: skip
        if self.pool is not None:
            await repository.mark_running(self.pool, p.reflection_id, tenant, p.reservation_id)

    async def _one(self, conn: asyncpg.Connection, event: Event, p: ReflectionRequested) -> None:
        tenant = event.tenant_id
        quote = await repository.find_quote(conn, tenant, p.quote_id)
        model = quote["model"] if quote else self.curator.model
        row = await repository.lock_reflection(conn, p.reflection_id)
        assert row is not None
        if row["tenant_id"] != tenant:
            log.warning(
                "reflection.requested names another tenant's reflection; ignored",
                extra={"reflection_id": str(p.reflection_id), "tenant_id": str(tenant)},
            )
            return
        if row["status"] in ("completed", "failed"):
            log.info(
                "reflection already %s; nothing more to do",
                row["status"],
                extra={"reflection_id": str(p.reflection_id)},
            )
            return
        started = time.monotonic()
        reason: str | None = None
        if quote is None or quote["session_id"] != p.session_id:
            reason = "unknown quote for this session"
        else:
            try:
                facts = await self.facts(conn, tenant, p.session_id)
                if not facts.analysis.asset_ids:
                    reason = "the session has no images"
                else:
                    result = await self.curator.write(facts.analysis)
            except CuratorFailed as exc:
                reason = f"the curator failed: {exc}"[:500]
        if reason is not None:
            await repository.fail(
                conn,
                p.reflection_id,
                reservation_id=p.reservation_id,
                credits_reserved=p.credits,
                reason=reason,
            )
            await add_to_outbox(
                conn,
                SCHEMA,
                [
                    Event.of(
                        ReflectionFailed(
                            reflection_id=p.reflection_id, reservation_id=p.reservation_id, reason=reason
                        ),
                        tenant_id=tenant,
                        correlation_id=event.correlation_id or event.event_id,
                    )
                ],
            )
            REFLECTIONS.labels("failed", model).inc()
            LATENCY.labels("failed").observe(time.monotonic() - started)
            log.warning("reflection failed", extra={"reflection_id": str(p.reflection_id), "reason": reason})
            return
        assert quote is not None
        charged = pricing.settlement(
            result.model,
            result.prompt_tokens,
            result.completion_tokens,
            quoted=quote["credits"],
            reserved=p.credits,
        )
        usd = (
            0.0
            if result.curator == "builtin"
            else pricing.cost_usd(result.model, result.prompt_tokens, result.completion_tokens)
        )
        tokens = result.prompt_tokens + result.completion_tokens
        await repository.complete(
            conn,
            p.reflection_id,
            reservation_id=p.reservation_id,
            credits_reserved=p.credits,
            credits_charged=charged,
            model=result.model,
            curator=result.curator,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=usd,
            summary=summary_text(result.sections),
            sections=result.sections,
            facts=facts.analysis.to_json(),
            dropped=result.dropped,
        )
        await add_to_outbox(
            conn,
            SCHEMA,
            [
                Event.of(
                    ReflectionCompleted(
                        reflection_id=p.reflection_id,
                        reservation_id=p.reservation_id,
                        credits=charged,
                        tokens=tokens,
                    ),
                    tenant_id=tenant,
                    correlation_id=event.correlation_id or event.event_id,
                )
            ],
        )
        REFLECTIONS.labels("completed", result.model).inc()
        TOKENS.labels(result.model, "prompt").inc(result.prompt_tokens)
        TOKENS.labels(result.model, "completion").inc(result.completion_tokens)
        COST.labels(result.model).inc(usd)
        CREDITS.labels(result.model).inc(charged)
        LATENCY.labels("completed").observe(time.monotonic() - started)


def quote_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "quote_id": str(row["quote_id"]),
        "credits": row["credits"],
        "expires_at": row["expires_at"].isoformat(),
        "model": row["model"],
        "session_id": str(row["session_id"]),
        "asset_count": row["asset_count"],
        "prompt_tokens": row["prompt_tokens"],
        "answer_tokens": row["answer_tokens"],
        "expired": row["expired"],
    }
