"""Pure parts of fair imports and dead letters: an upload's lane and key, the event size cap, the inbox id
of a replayed dead letter, and replay-dlq's summary (README "Fair imports"; libs/common/events.py,
libs/common/consumer.py, libs/cli/dead_letters.py)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from libs.cli.dead_letters import ReplaySummary
from libs.common.consumer import REPLAYED_FROM, Delivery, RawRecord
from libs.common.events import (
    MAX_EVENT_BYTES,
    AssetImported,
    AssetUploaded,
    Event,
    InvalidEvent,
    Topics,
    parse_event,
    upload_lane,
)

TENANT = uuid.uuid4()


def _uploaded(source: str = "upload") -> AssetUploaded:
    return AssetUploaded(
        asset_id=uuid.uuid4(), sha256="a" * 64, object_key="k", filename="f.png", size=1,
        source=source,  # type: ignore[arg-type]
    )  # fmt: skip


def test_uploads_take_the_bulk_lane_when_their_workspace_is_busy_or_from_a_folder() -> None:
    # a small zip or sync stays interactive: the gateway turns a workspace busy by its backlog
    for source in ("upload", "zip", "sync"):
        assert Event.of(_uploaded(source), tenant_id=TENANT).topic == Topics.ASSET_UPLOADED
    assert Event.of(_uploaded("folder"), tenant_id=TENANT).topic == Topics.ASSET_UPLOADED_BULK
    busy = _uploaded()
    assert upload_lane(busy, busy=True) == Topics.ASSET_UPLOADED_BULK
    assert (
        Event.of(busy, tenant_id=TENANT, topic=upload_lane(busy, busy=True)).topic
        == Topics.ASSET_UPLOADED_BULK
    )
    assert Topics.ASSET_UPLOADED_BULK in Topics.ALL


def test_uploads_are_keyed_by_asset_and_everything_else_by_workspace() -> None:
    uploaded = _uploaded("folder")
    event = Event.of(uploaded, tenant_id=TENANT)
    assert event.key == str(uploaded.asset_id).encode()
    # the lane is where it is published, not part of the record: parsed back, the same event and key
    parsed, payload = parse_event(event.to_bytes())
    assert "_topic" not in json.loads(event.to_bytes()) and parsed.key == event.key and payload == uploaded
    imported = AssetImported(asset_id=uploaded.asset_id, sha256="a" * 64, filename="f.png")
    assert Event.of(imported, tenant_id=TENANT).key == str(TENANT).encode()


def test_a_record_over_the_cap_is_refused_before_it_is_parsed() -> None:
    event = Event.of(_uploaded(), tenant_id=TENANT)
    body = event.to_bytes()
    padded = body[:-1] + b" " * (MAX_EVENT_BYTES - len(body)) + b"}"
    assert (
        len(padded) == MAX_EVENT_BYTES and parse_event(padded)[0].event_id == event.event_id
    )  # at the cap: fine
    with pytest.raises(
        InvalidEvent, match=re.escape(f"oversized event: {MAX_EVENT_BYTES + 1:,} bytes; the limit")
    ):
        parse_event(padded[:-1] + b" }")
    with pytest.raises(InvalidEvent, match=re.escape("unknown event type/version asset.uploaded v2")):
        parse_event(event.model_copy(update={"version": 2}).to_bytes())


def test_a_replayed_dead_letter_is_claimed_under_an_id_of_its_own() -> None:
    event = Event.of(_uploaded(), tenant_id=TENANT)
    _, payload = parse_event(event.to_bytes())
    plain = Delivery(event, payload, RawRecord(event.to_bytes(), event.key))
    assert plain.inbox_id == event.event_id and plain.replayed_from is None

    def replayed(where: str) -> Delivery:
        return Delivery(
            event, payload, RawRecord(event.to_bytes(), event.key, ((REPLAYED_FROM, where.encode()),))
        )

    first = replayed("asset.uploaded.dlq:0:7")
    assert first.replayed_from == "asset.uploaded.dlq:0:7"
    assert first.inbox_id != event.event_id
    assert first.inbox_id == replayed("asset.uploaded.dlq:0:7").inbox_id  # the same dead letter: once
    assert first.inbox_id != replayed("asset.uploaded.dlq:0:8").inbox_id


def test_the_replay_summary_says_what_was_done() -> None:
    summary = ReplaySummary("asset.uploaded", dry_run=False, replayed=2,
                            skipped=[("asset.uploaded.dlq:0:3", "malformed envelope: Invalid JSON")],
                            reasons={"handler failed 3 times: ValueError: x": 2})  # fmt: skip
    assert summary.lines() == [
        "asset.uploaded: replayed 2, skipped 1 as still invalid",
        "  replayed 2 dead-lettered for: handler failed 3 times: ValueError: x",
        "  skipped asset.uploaded.dlq:0:3: malformed envelope: Invalid JSON",
    ]
    assert ReplaySummary("t", dry_run=True).lines() == [
        "t: would replay 0, skipped 0 as still invalid (dry run: nothing published, nothing committed)"
    ]
