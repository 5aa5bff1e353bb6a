"""The event catalogue: every event that crosses a service boundary.

One envelope for all (`Event`), one pydantic payload model per (type, version).
Events are small: bytes live in S3, an event carries keys and facts (`MAX_EVENT_BYTES`).
The Kafka key is the tenant id, so one tenant's events stay in order on one partition, except
`asset.uploaded`, keyed by asset id: ingest needs no order within a workspace, and a large import
then spreads over every partition and ingest replica instead of piling onto one (README "Fair
imports"). Uploads travel in two lanes: `asset.uploaded` for interactive uploads and
`asset.uploaded.bulk` for busy workspaces and connected folders, consumed side by side, so
a small import never queues behind a large one.

A consumer turns raw bytes into an `Event` with `parse_event`, which raises
`InvalidEvent` (with a reason fit for the dead-letter topic) for anything it
cannot trust: a record over `MAX_EVENT_BYTES`, malformed JSON, an unknown type or version,
a payload that does not validate.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from libs.lineage.facts import LineageFacts, Relation


def new_event_id() -> uuid.UUID:
    """A UUIDv7: random but sortable by creation time (RFC 9562), so ids also order the log."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 68 & 0xFFF) << 64
        | 0b10 << 62
        | (rand & (2**62 - 1))
    )
    return uuid.UUID(int=value)


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


# -- topics ---------------------------------------------------------------------------------
class Topics:
    ASSET_UPLOADED = "asset.uploaded"
    # the bulk lane: the same `asset.uploaded` events, for imports that may be large (see `upload_lane`)
    ASSET_UPLOADED_BULK = "asset.uploaded.bulk"
    ASSET_IMPORTED = "asset.imported"
    ASSET_REJECTED = "asset.rejected"
    SESSION_UPDATED = "session.updated"
    SESSION_MERGED = "session.merged"
    CREDITS_RESERVED = "credits.reserved"
    CREDITS_SETTLED = "credits.settled"
    CREDITS_RELEASED = "credits.released"
    CREDITS_EXPIRED = "credits.expired"
    CREDITS_GRANTED = "credits.granted"
    REFLECTION_COMPLETED = "reflection.completed"
    REFLECTION_FAILED = "reflection.failed"
    REFLECTION_REQUESTED = "reflection.requested"
    LINEAGE_LINKED = "lineage.linked"
    STACK_UPDATED = "stack.updated"

    ALL: ClassVar[tuple[str, ...]] = (
        ASSET_UPLOADED,
        ASSET_UPLOADED_BULK,
        ASSET_IMPORTED,
        ASSET_REJECTED,
        SESSION_UPDATED,
        SESSION_MERGED,
        CREDITS_RESERVED,
        CREDITS_SETTLED,
        CREDITS_RELEASED,
        CREDITS_EXPIRED,
        CREDITS_GRANTED,
        REFLECTION_COMPLETED,
        REFLECTION_FAILED,
        REFLECTION_REQUESTED,
        LINEAGE_LINKED,
        STACK_UPDATED,
    )

    @staticmethod
    def dead_letter(topic: str) -> str:
        return f"{topic}.dlq"


# -- payloads -------------------------------------------------------------------------------
ImportSource = Literal["upload", "zip", "folder", "sync"]


class AssetUploaded(Payload):
    """Original bytes are staged in S3; an ingest worker should import them."""

    TYPE: ClassVar[str] = Topics.ASSET_UPLOADED
    asset_id: uuid.UUID
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    object_key: str
    filename: str
    size: int = Field(ge=0)
    source: ImportSource = "upload"
    folder: str | None = None
    # a modification time the import path preserved (connected folder, desktop sync, browser lastModified)
    file_mtime: datetime | None = None
    tenant_tz: str = "UTC"
    sidecar: dict[str, Any] | None = None


class AssetImported(Payload):
    """An asset is stored with its metadata and thumbnails; sessions can use it."""

    TYPE: ClassVar[str] = Topics.ASSET_IMPORTED
    asset_id: uuid.UUID
    sha256: str
    filename: str
    tool: str | None = None
    prompt: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    generated_at: datetime | None = None
    timestamp_source: str | None = None
    timestamp_precision: Literal["second", "day"] | None = None
    thumbnail_key: str | None = None
    dominant_color: str | None = None
    # what lineage, stacks and the change strip rest on (seed, parameters, keys, references to parents)
    lineage: LineageFacts | None = None


class AssetRejected(Payload):
    """A file could not be imported; it is quarantined with a reason the user sees."""

    TYPE: ClassVar[str] = Topics.ASSET_REJECTED
    asset_id: uuid.UUID
    filename: str
    reason: str


class SessionUpdated(Payload):
    """A session was created or changed: what a session card needs."""

    TYPE: ClassVar[str] = Topics.SESSION_UPDATED
    session_id: uuid.UUID
    start: datetime
    end: datetime
    asset_count: int
    cover_asset_ids: list[uuid.UUID] = []
    deleted: bool = False


class SessionMerged(Payload):
    """`from_session_id` now lives on as `into_session_id`; links to the old id still resolve."""

    TYPE: ClassVar[str] = Topics.SESSION_MERGED
    from_session_id: uuid.UUID
    into_session_id: uuid.UUID


class CreditsReserved(Payload):
    """Credits are held for a piece of work until it is settled, released or expires."""

    TYPE: ClassVar[str] = Topics.CREDITS_RESERVED
    reservation_id: uuid.UUID
    credits: int
    purpose: str
    expires_at: datetime
    # the tenant's account after the change
    available: int
    reserved: int


class CreditsSettled(Payload):
    """A reservation was settled: `settled_credits` spent, `released_credits` (the rest) freed."""

    TYPE: ClassVar[str] = Topics.CREDITS_SETTLED
    reservation_id: uuid.UUID
    reserved_credits: int
    settled_credits: int
    released_credits: int
    available: int
    reserved: int


class CreditsReleased(Payload):
    """A reservation was released whole (its work failed or was called off)."""

    TYPE: ClassVar[str] = Topics.CREDITS_RELEASED
    reservation_id: uuid.UUID
    credits: int
    reason: str | None = None
    available: int
    reserved: int


class CreditsExpired(Payload):
    """A reservation nobody settled was released by the reaper once due (the database's clock)."""

    TYPE: ClassVar[str] = Topics.CREDITS_EXPIRED
    reservation_id: uuid.UUID
    credits: int
    expires_at: datetime
    available: int
    reserved: int


class CreditsGranted(Payload):
    """Credits were added (or, for an adjustment, taken back: negative `credits`)."""

    TYPE: ClassVar[str] = Topics.CREDITS_GRANTED
    credits: int
    source: Literal["starting_grant", "grant", "purchase", "adjustment"]
    reason: str
    # the grant's id, or the payment provider's event id for a purchase
    reference: str | None = None
    available: int
    reserved: int


class ReflectionCompleted(Payload):
    """A reflection was written; credits settles its reservation by `credits` (never above it)."""

    TYPE: ClassVar[str] = Topics.REFLECTION_COMPLETED
    reflection_id: uuid.UUID
    reservation_id: uuid.UUID
    credits: int = Field(ge=0)
    tokens: int = Field(ge=0)


class ReflectionFailed(Payload):
    """A reflection could not be written; credits releases its reservation."""

    TYPE: ClassVar[str] = Topics.REFLECTION_FAILED
    reflection_id: uuid.UUID
    reservation_id: uuid.UUID
    reason: str


class ReflectionRequested(Payload):
    """A person confirmed a quoted reflection and credits reserved its price: the reflection worker
    writes it and answers `reflection.completed` (settling at most `credits`) or `reflection.failed`."""

    TYPE: ClassVar[str] = Topics.REFLECTION_REQUESTED
    reflection_id: uuid.UUID
    session_id: uuid.UUID
    quote_id: uuid.UUID
    reservation_id: uuid.UUID
    # the credits reserved for it: the most the reflection may settle
    credits: int = Field(ge=0)


class LinkedEdge(BaseModel):
    """One lineage edge as events carry it: parent -> child, what the child is of it, how sure."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    parent_id: uuid.UUID
    child_id: uuid.UUID
    relation: Relation
    confidence: float = Field(ge=0, le=1)


class LineageLinked(Payload):
    """Clustering linked assets of a workspace: `edges` were added (explicit or inferred); `removed` are
    inferred edges a better parent replaced. The details (rule, evidence) are in `clustering.lineage_links`."""

    TYPE: ClassVar[str] = Topics.LINEAGE_LINKED
    edges: list[LinkedEdge]
    removed: list[LinkedEdge] = []


class StackUpdated(Payload):
    """A session's stacks changed: `stack_ids` are the stacks made, changed or gone (a page re-reads the
    session's stacks from `clustering.session_stacks`)."""

    TYPE: ClassVar[str] = Topics.STACK_UPDATED
    session_id: uuid.UUID
    stack_ids: list[uuid.UUID]


PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (p.TYPE, p.VERSION): p
    for p in (
        AssetUploaded,
        AssetImported,
        AssetRejected,
        SessionUpdated,
        SessionMerged,
        CreditsReserved,
        CreditsSettled,
        CreditsReleased,
        CreditsExpired,
        CreditsGranted,
        ReflectionCompleted,
        ReflectionFailed,
        ReflectionRequested,
        LineageLinked,
        StackUpdated,
    )
}


# The most bytes one event record may have: events carry keys and facts, never data (a 64 KiB
# sidecar is the largest thing any payload holds). A record over it is dead-lettered as
# "oversized" before it is even parsed. Below Kafka's default 1 MiB message limit, so an
# oversized event still reaches its consumer (and the dead-letter topic) instead of failing
# at the producer.
MAX_EVENT_BYTES = 512 * 1024

# the sources that take the bulk lane whatever their size: a connected folder's scan may find a whole
# library, and the watcher does not count a workspace's backlog as the gateway does. A zip or a sync
# is judged by that count instead (`busy`), so a small one stays interactive.
BULK_SOURCES = frozenset({"folder"})


def upload_lane(payload: AssetUploaded, *, busy: bool = False) -> str:
    """The topic an upload travels on: the bulk lane for a workspace that already has many files waiting
    (`busy`, judged by the gateway as it stages: a large zip or sync turns busy part-way) and for
    connected folders; the interactive lane otherwise. Both lanes are consumed side by side."""
    return Topics.ASSET_UPLOADED_BULK if busy or payload.source in BULK_SOURCES else Topics.ASSET_UPLOADED


# -- envelope -------------------------------------------------------------------------------
class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=new_event_id)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant_id: uuid.UUID
    correlation_id: uuid.UUID | None = None
    payload: dict[str, Any]
    # the topic when it is not the type's own (an upload's lane); not part of the record
    _topic: str | None = PrivateAttr(default=None)

    @classmethod
    def of(
        cls,
        payload: Payload,
        *,
        tenant_id: uuid.UUID,
        correlation_id: uuid.UUID | None = None,
        topic: str | None = None,
    ) -> Event:
        """`topic`: where to publish it when not the type's own; an upload gets its lane by default."""
        event = cls(
            type=payload.TYPE,
            version=payload.VERSION,
            tenant_id=tenant_id,
            correlation_id=correlation_id,
            payload=payload.model_dump(mode="json"),
        )
        event._topic = topic or (upload_lane(payload) if isinstance(payload, AssetUploaded) else None)
        return event

    @property
    def topic(self) -> str:
        return self._topic or self.type

    @property
    def key(self) -> bytes:
        """The Kafka key: the tenant (one workspace's events in order on one partition), but the asset
        for an upload, so a large import spreads over every partition (README "Fair imports")."""
        if self.type == Topics.ASSET_UPLOADED and "asset_id" in self.payload:
            return str(self.payload["asset_id"]).encode()
        return str(self.tenant_id).encode()

    def body(self) -> Payload:
        """The typed payload (validated again: cheap, and the envelope may have been built by hand)."""
        return PAYLOADS[(self.type, self.version)].model_validate(self.payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class InvalidEvent(Exception):
    """Raw bytes that are not an event we can handle; the reason goes to the dead-letter topic."""


def parse_event(raw: bytes | str) -> tuple[Event, Payload]:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"oversized event: {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}")
    try:
        event = Event.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"malformed envelope: {exc.errors()[0]['msg']}") from None
    model = PAYLOADS.get((event.type, event.version))
    if model is None:
        raise InvalidEvent(f"unknown event type/version {event.type} v{event.version}")
    try:
        return event, model.model_validate(event.payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidEvent(
            f"invalid {event.type} v{event.version} payload: {'.'.join(map(str, err['loc']))}: {err['msg']}"
        ) from None
