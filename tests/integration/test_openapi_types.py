"""The gateway's OpenAPI document types every JSON answer, and the types are the bodies' own.

A TypeScript client is generated from `/openapi.json` (openapi-typescript), so each JSON 200/201 of
`/api/v1` and of a share link (`/s/...`) must name its keys, not say "object". The first test walks the
document. The second drives one workspace through every such operation over the real stack and checks
each answer against the model its route documents, key for key: a key the model lacks, a key it requires
that the body lacks, or a value of another type fails. That matters most for the routes that build
their own JSONResponse (paged lists, a session, a share link's views), whose bodies never pass through
their model; it also fails when a new JSON route is not exercised here.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin
from pydantic import BaseModel, TypeAdapter

from libs.billing import stripe_signature
from libs.common.internal import internal_headers
from tests.polling import until

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
PASSWORD = "a long and typed document 7"


def _json_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> the schema of its JSON 200/201/202, for /api/v1 and /s/ operations."""
    found = {}
    for path, operations in document["paths"].items():
        if not path.startswith(("/api/v1/", "/s/")):
            continue
        for method, operation in operations.items():
            for code in ("200", "201", "202"):
                content = operation["responses"].get(code, {}).get("content", {})
                if "application/json" in content:
                    found[(method, path)] = content["application/json"].get("schema", {})
    return found


def _typed_object(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A `$ref` to an object with named properties, or such an object written out."""
    if "$ref" in schema:
        schema = components[schema["$ref"].removeprefix("#/components/schemas/")]
    return (
        schema.get("type") == "object"
        and bool(schema.get("properties"))
        and schema.get("additionalProperties") in (None, False)
    )


def test_every_json_answer_has_a_typed_schema(stack) -> None:
    document = stack["gateway"].app.openapi()
    components = document["components"]["schemas"]
    operations = _json_operations(document)
    assert len(operations) >= 25, sorted(operations)
    untyped = []
    for operation, schema in sorted(operations.items()):
        if schema.get("type") == "array":
            ok = _typed_object(schema.get("items", {}), components)
        else:
            ok = _typed_object(schema, components)
        if not ok:
            untyped.append((operation, schema))
    assert not untyped, f"JSON answers without a typed schema: {untyped}"


# --- real bodies against their models -----------------------------------------------------------------


def _a1111_png(seed: int, prompt: str, model: str = "sdxl_base") -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", f"{prompt}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, "
        f"Seed: {seed}, Model: {model}"
    )  # fmt: skip
    out = io.BytesIO()
    Image.new("RGB", (24, 24), ((seed * 53) % 256, (seed * 97) % 256, 120)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _plain_png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), (seed % 256, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _models() -> dict[str, type[BaseModel]]:
    """The response models by the name the document gives them (`#/components/schemas/<name>`)."""
    from services.gateway import schemas
    from services.gateway.accounts import schemas as account_schemas
    from services.gateway.credits import schemas as credit_schemas
    from services.gateway.curation import schemas as curation_schemas
    from services.gateway.reflections import schemas as reflection_schemas
    from services.gateway.sharing import schemas as sharing_schemas

    return {
        name: value
        for module in (
            schemas,
            account_schemas,
            sharing_schemas,
            credit_schemas,
            reflection_schemas,
            curation_schemas,
        )
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
    }


class Checker:
    """Checks answers against the model their operation documents and remembers which operations it saw."""

    def __init__(self, app: Any) -> None:
        self.operations = _json_operations(app.openapi())
        self.models = _models()
        self.seen: set[tuple[str, str]] = set()

    def model_of(self, method: str, path: str) -> Any:
        schema = self.operations[(method, path)]
        if schema.get("type") == "array":
            item = self.models[schema["items"]["$ref"].rsplit("/", 1)[-1]]
            return list[item]  # type: ignore[valid-type]
        return self.models[schema["$ref"].rsplit("/", 1)[-1]]

    def __call__(self, method: str, path: str, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (method, path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        adapter: TypeAdapter[Any] = TypeAdapter(self.model_of(method, path))
        value = adapter.validate_python(body)  # a missing key or a value of another type: an error
        # a key the model does not know is dropped by validation, so the round trip would differ
        assert adapter.dump_python(value, mode="json", exclude_unset=True) == body, (method, path)
        self.seen.add((method, path))
        return body


async def test_every_json_body_matches_its_documented_model(stack, new_tenant, folder_root: Path) -> None:
    app = stack["gateway"].app
    check = Checker(app)
    token, client = await new_tenant()

    # uploads: imported (timed, two sessions), untimed, duplicate, rejected by the gateway and by ingest
    images = [
        _a1111_png(1, "a fox in snow, <lora:film_grain:0.8>"),
        _a1111_png(2, "a fox at dusk"),
        _a1111_png(3, "a whale in the ocean", model="juggernautXL"),
        _a1111_png(4, "a whale at night", model="juggernautXL"),
    ]
    times = [T0, T0 + timedelta(minutes=1), T0 + timedelta(hours=6), T0 + timedelta(hours=6, minutes=2)]
    response = await client.post(
        "/api/v1/assets",
        files=[("files", (f"image-{i}.png", data, "image/png")) for i, data in enumerate(images)],
        data={"last_modified": [str(int(t.timestamp() * 1000)) for t in times]},
    )
    results = check("post", "/api/v1/assets", response)
    assert [r["status"] for r in results] == ["imported"] * 4, results
    assert all(set(r) == {"filename", "status", "asset_id"} for r in results), results
    response = await client.post(
        "/api/v1/assets",
        files=[
            ("files", ("untimed.png", _plain_png(5), "image/png")),
            ("files", ("again.png", images[0], "image/png")),
            ("files", ("notes.txt", b"not an image", "text/plain")),
            ("files", ("broken.png", b"\x89PNG\r\n\x1a\n broken", "image/png")),
        ],
    )
    results = check("post", "/api/v1/assets", response)
    assert [r["status"] for r in results] == ["imported", "duplicate", "rejected", "rejected"], results
    assert [set(r) for r in results] == [{"filename", "status", "asset_id"}] * 2 + [
        {"filename", "status", "asset_id", "reason"}
    ] * 2, results
    assert results[2]["asset_id"] is None and results[3]["asset_id"] and results[3]["reason"]

    known = hashlib.sha256(images[0]).hexdigest()
    response = await client.post("/api/v1/assets/lookup", json={"sha256": [known, "0" * 64]})
    assert check("post", "/api/v1/assets/lookup", response) == {"known": [known]}

    async def two_sessions() -> list[dict[str, Any]] | None:
        cards = (await client.get("/api/v1/sessions")).json()
        return cards if len(cards) == 2 and sum(c["asset_count"] for c in cards) == 4 else None

    assert await until(two_sessions)

    # reads
    cards = check("get", "/api/v1/sessions", await client.get("/api/v1/sessions"))
    check("get", "/api/v1/sessions", await client.get("/api/v1/sessions", params={"limit": 1}))
    session = cards[0]["id"]
    detail = check("get", "/api/v1/sessions/{session_id}", await client.get(f"/api/v1/sessions/{session}"))
    assert detail["merged_from"] is None and len(detail["assets"]) == 2
    check(
        "get", "/api/v1/sessions/{session_id}/assets", await client.get(f"/api/v1/sessions/{session}/assets")
    )
    gallery = check("get", "/api/v1/assets", await client.get("/api/v1/assets"))
    assert {a["generated_at"] is None for a in gallery} == {True, False}
    check("get", "/api/v1/assets", await client.get("/api/v1/assets", params={"q": "fox", "limit": 1}))
    check("get", "/api/v1/assets", await client.get("/api/v1/assets", params={"without_time": "true"}))
    for asset in gallery:  # the detail is the gallery's card (a body no model filtered) and three keys more
        one = check(
            "get", "/api/v1/assets/{asset_id}", await client.get(f"/api/v1/assets/{asset['asset_id']}")
        )
        assert {k: v for k, v in one.items() if k not in ("sha256", "metadata", "metadata_error")} == asset
        assert len(one) == len(asset) + 3
    quarantine = check("get", "/api/v1/assets/quarantine", await client.get("/api/v1/assets/quarantine"))
    assert [q["filename"] for q in quarantine] == ["broken.png"]
    facets = check("get", "/api/v1/facets", await client.get("/api/v1/facets"))
    assert facets["lora"] == [{"value": "film_grain", "count": 1}]
    check("get", "/api/v1/facets", await client.get("/api/v1/facets", params={"q": "fox"}))
    zone = check("get", "/api/v1/settings/time-zone", await client.get("/api/v1/settings/time-zone"))
    assert zone == {"time_zone": "UTC"}
    gap = check("get", "/api/v1/settings/sessions", await client.get("/api/v1/settings/sessions"))
    assert gap == {"gap_minutes": None}
    check("get", "/api/v1/me", await client.get("/api/v1/me"))

    # session edits and settings
    later = detail["assets"][1]["asset_id"]
    response = await client.post(f"/api/v1/sessions/{session}/split", json={"asset_id": later})
    halves = check("post", "/api/v1/sessions/{session_id}/split", response)["sessions"]
    assert len(halves) == 2
    response = await client.post("/api/v1/sessions/merge", json={"session_ids": [h["id"] for h in halves]})
    merged = check("post", "/api/v1/sessions/merge", response)
    [gone] = merged["merged_from"]
    # the edits' cards are the timeline's (a body no model filtered)
    assert merged["sessions"] == [
        c for c in (await client.get("/api/v1/sessions")).json() if c["id"] == merged["sessions"][0]["id"]
    ]
    assert set(merged) == {"sessions", "merged_from"} and set(halves[0]) == set(cards[0])
    redirected = check("get", "/api/v1/sessions/{session_id}", await client.get(f"/api/v1/sessions/{gone}"))
    assert redirected["merged_from"] == gone
    response = await client.put("/api/v1/settings/sessions", json={"gap_minutes": 90})
    changed = check("put", "/api/v1/settings/sessions", response)
    assert (changed["gap_minutes"], set(changed)) == (90, {"gap_minutes", "rule", "sessions"})
    assert changed["sessions"] == (await client.get("/api/v1/sessions")).json()
    gap = check("get", "/api/v1/settings/sessions", await client.get("/api/v1/settings/sessions"))
    assert gap == {"gap_minutes": 90}
    response = await client.put("/api/v1/settings/time-zone", json={"time_zone": "Europe/Paris"})
    assert check("put", "/api/v1/settings/time-zone", response) == {"time_zone": "Europe/Paris"}

    # share links: with and without prompts, their public views
    session = (await client.get("/api/v1/sessions")).json()[0]["id"]
    tokens = []
    for show_prompts in (True, False):
        response = await client.post(
            f"/api/v1/sessions/{session}/share", json={"expires_in_days": 2, "show_prompts": show_prompts}
        )
        tokens.append(check("post", "/api/v1/sessions/{session_id}/share", response, status=201)["token"])
    check(
        "get", "/api/v1/sessions/{session_id}/shares", await client.get(f"/api/v1/sessions/{session}/shares")
    )
    public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    async with public:
        for link, show_prompts in zip(tokens, (True, False), strict=True):
            shared = check("get", "/s/{token}/session", await public.get(f"/s/{link}/session"))
            assert ("phrases" in shared["summary"]) == show_prompts
            assert all(("prompt" in a) == show_prompts for a in shared["assets"])
            check("get", "/s/{token}/assets", await public.get(f"/s/{link}/assets"))
            check("get", "/s/{token}/assets", await public.get(f"/s/{link}/assets", params={"limit": 1}))

    # saved searches, tokens, connected folders
    response = await client.post(
        "/api/v1/searches", json={"name": "foxes", "query": {"q": "fox", "from": "2024-05-01T00:00:00Z"}}
    )
    check("post", "/api/v1/searches", response, status=201)
    check("get", "/api/v1/searches", await client.get("/api/v1/searches"))
    response = await client.post("/api/v1/tokens", json={"label": "typed"})
    check("post", "/api/v1/tokens", response, status=201)
    check("get", "/api/v1/tokens", await client.get("/api/v1/tokens"))
    folder = folder_root / f"typed-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    response = await client.post("/api/v1/folders", json={"path": str(folder)})
    connected = check("post", "/api/v1/folders", response, status=201)
    folders = check("get", "/api/v1/folders", await client.get("/api/v1/folders"))
    # what ingest answers, key for key
    tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    ingest = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack["ingest"].app),
        base_url="http://ingest",
        headers=internal_headers(stack["gateway"].settings),
    )
    async with ingest:
        assert folders == (await ingest.get("/internal/v1/folders", params={"tenant_id": tenant_id})).json()
    assert [f["id"] for f in folders] == [connected["id"]] and set(connected) == set(folders[0])

    # an account: sign up, sign in, out (a browser: no token)
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://localhost",
        headers={"Origin": "http://localhost"},
    )
    async with browser:
        email = f"typed-{uuid.uuid4().hex[:8]}@example.com"
        response = await browser.post(
            "/api/v1/accounts", json={"email": email, "password": PASSWORD, "name": "T"}
        )
        check("post", "/api/v1/accounts", response, status=201)
        check("post", "/api/v1/logout", await browser.post("/api/v1/logout"))
        response = await browser.post("/api/v1/login", json={"email": email, "password": PASSWORD})
        check("post", "/api/v1/login", response)
        check("post", "/api/v1/logout", await browser.post("/api/v1/logout"))
    assert token

    # credits: the balance, buying a pack (the test provider), the history, the provider's webhook
    check("get", "/api/v1/credits", await client.get("/api/v1/credits"))
    check(
        "post",
        "/api/v1/billing/checkout",
        await client.post("/api/v1/billing/checkout", json={"pack": "starter"}),
    )
    history = check("get", "/api/v1/credits/history", await client.get("/api/v1/credits/history"))
    assert [h["kind"] for h in history][:2] == ["purchase", "grant"], history
    me = (await client.get("/api/v1/me")).json()
    event = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "checkout.session.completed",
                        "data": {"object": {"metadata": {"tenant_id": me["workspace_id"], "pack": "starter"}}}}).encode()  # fmt: skip
    signature = stripe_signature("whsec_atelier_dev_only", event, int(time.time()))
    response = await client.post(
        "/api/v1/billing/webhook", content=event, headers={"Stripe-Signature": signature}
    )
    check("post", "/api/v1/billing/webhook", response)

    # a reflection: quote, confirm (202), the reflection and the session's list once it is written
    from tests.integration.test_reflection_flow import lighthouse_session, upload_session

    session = await upload_session(
        client, lighthouse_session(50, "a typed tower"), 1_600_000_000_000, "typed"
    )
    quote = check("post", "/api/v1/sessions/{session_id}/reflection/quote",
                  await client.post(f"/api/v1/sessions/{session}/reflection/quote"))  # fmt: skip
    response = await client.post(f"/api/v1/sessions/{session}/reflections", json={"quote_id": quote["quote_id"]},
                                 headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    accepted = check("post", "/api/v1/sessions/{session_id}/reflections", response, status=202)

    async def written() -> bool:
        doc = (await client.get(f"/api/v1/reflections/{accepted['reflection_id']}")).json()
        return doc["status"] == "completed"

    assert await until(written, within=60.0)
    check("get", "/api/v1/reflections/{reflection_id}",
          await client.get(f"/api/v1/reflections/{accepted['reflection_id']}"))  # fmt: skip
    check("get", "/api/v1/sessions/{session_id}/reflections",
          await client.get(f"/api/v1/sessions/{session}/reflections"))  # fmt: skip

    # curation over the reflected session: lineage, stacks, the change strip, a pick, stack edits
    assets = [a["asset_id"] for a in (await client.get(f"/api/v1/sessions/{session}/assets")).json()]
    check("get", "/api/v1/assets/{asset_id}/lineage", await client.get(f"/api/v1/assets/{assets[1]}/lineage"))
    check(
        "get",
        "/api/v1/sessions/{session_id}/lineage",
        await client.get(f"/api/v1/sessions/{session}/lineage"),
    )
    changes = check(
        "get",
        "/api/v1/sessions/{session_id}/changes",
        await client.get(f"/api/v1/sessions/{session}/changes"),
    )
    assert changes["changes"]
    response = await client.put(f"/api/v1/assets/{assets[0]}/flag", json={"flag": "pick"})
    assert check("put", "/api/v1/assets/{asset_id}/flag", response) == {"asset_id": assets[0], "flag": "pick"}
    keepers = check("get", "/api/v1/assets", await client.get("/api/v1/assets", params={"flag": "pick"}))
    assert [a["asset_id"] for a in keepers] == [assets[0]] and keepers[0]["flag"] == "pick"
    stacks = check(
        "get", "/api/v1/sessions/{session_id}/stacks", await client.get(f"/api/v1/sessions/{session}/stacks")
    )["stacks"]
    assert sum(s["size"] for s in stacks) == len(assets)
    biggest = max(stacks, key=lambda s: s["size"])
    assert biggest["size"] >= 2
    moved, kept = biggest["asset_ids"][0], biggest["asset_ids"][1]
    response = await client.delete(f"/api/v1/sessions/{session}/stacks/{biggest['stack_id']}/assets/{moved}")
    after = check("delete", "/api/v1/sessions/{session_id}/stacks/{stack_id}/assets/{asset_id}", response)
    assert any(s["asset_ids"] == [moved] for s in after["stacks"])
    response = await client.post(f"/api/v1/sessions/{session}/stacks", json={"asset_ids": [moved, kept]})
    after = check("post", "/api/v1/sessions/{session_id}/stacks", response)
    [hand] = [s for s in after["stacks"] if moved in s["asset_ids"]]
    assert hand["manual"] and set(hand["asset_ids"]) == {moved, kept}
    response = await client.delete(f"/api/v1/sessions/{session}/stacks/{hand['stack_id']}")
    after = check("delete", "/api/v1/sessions/{session_id}/stacks/{stack_id}", response)
    assert [moved] in [s["asset_ids"] for s in after["stacks"]]

    assert check.seen == set(check.operations), (
        f"not exercised here: {sorted(set(check.operations) - check.seen)}"
    )
