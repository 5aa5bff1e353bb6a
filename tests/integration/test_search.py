"""Search and facets over the real stack: `GET /api/v1/assets?q=&tool=&model=&lora=&from=&to=...` and
`GET /api/v1/facets`, with A1111 PNGs whose prompts, models and LoRA tags we know."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from tests.polling import until

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 21, 10, 0, tzinfo=UTC)

# (name, prompt, negative prompt, model)
IMAGES = [
    ("fox-snow", "a red fox in snow, <lora:film_grain:0.8>", "blurry", "juggernautXL"),
    ("fox-portrait", "red fox, fox portrait, fox fur, fox eyes", "", "sdxl_base"),
    ("whale", "a blue whale in the ocean", "fox, cat", "juggernautXL"),
    ("cat", "a cat on a roof, <lora:Ink_Wash:0.6>", "", "sdxl_base"),
    ("city", "a city at night, <lora:film_grain:1>, <lora:add_detail:0.5>", "", "juggernautXL"),
]


def _a1111_png(seed: int, prompt: str, negative: str, model: str) -> bytes:
    text = prompt + (f"\nNegative prompt: {negative}" if negative else "")
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", f"{text}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Model: {model}"
    )
    out = io.BytesIO()
    Image.new("RGB", (24, 24), (seed * 40 % 256, 80, 120)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def _upload(
    client: httpx.AsyncClient, images: list[tuple[str, str, str, str]], seed0: int
) -> dict[str, str]:
    files = [
        ("files", (f"{name}.png", _a1111_png(seed0 + i, prompt, neg, model), "image/png"))
        for i, (name, prompt, neg, model) in enumerate(images)
    ]
    times = [str(int((T0 + timedelta(minutes=i)).timestamp() * 1000)) for i in range(len(images))]
    response = await client.post("/api/v1/assets", files=files, data={"last_modified": times})
    assert [r["status"] for r in response.json()] == ["imported"] * len(images), response.text

    async def all_there() -> list[dict[str, Any]] | None:
        rows = (await client.get("/api/v1/assets")).json()
        return rows if len(rows) == len(images) else None

    rows = await until(all_there, within=30.0)
    assert rows
    return {r["filename"].removesuffix(".png"): r["asset_id"] for r in rows}


async def _names(client: httpx.AsyncClient, ids: dict[str, str], **params: str) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    response = await client.get("/api/v1/assets", params=params)
    assert response.status_code == 200, response.text
    return [by_id[a["asset_id"]] for a in response.json()]


async def test_search_filters_counts_and_facets(stack, new_tenant) -> None:
    _, client = await new_tenant()
    _, other = await new_tenant()
    ids = await _upload(client, IMAGES, 1)
    other_ids = await _upload(other, [("other-fox", "a red fox, fox, fox, fox", "", "juggernautXL")], 50)

    # one word finds its images, best first: four "fox" in the prompt, then one, then only the negative
    assert await _names(client, ids, q="fox") == ["fox-portrait", "fox-snow", "whale"]
    # every word is required, whole words in any case
    assert await _names(client, ids, q="Red FOX") == ["fox-portrait", "fox-snow"]
    assert await _names(client, ids, q="fo") == []
    assert await _names(client, ids, q="unicorn") == []
    # filters combine, with and without q
    assert await _names(client, ids, q="fox", model="juggernautXL") == ["fox-snow", "whale"]
    assert set(await _names(client, ids, lora="film_grain")) == {"fox-snow", "city"}
    assert await _names(client, ids, lora="INK_WASH") == ["cat"]
    assert await _names(client, ids, q="fox", lora="film_grain", model="juggernautXL") == ["fox-snow"]
    assert await _names(client, ids, model="sdxl_base", tool="a1111") == [
        "cat",
        "fox-portrait",
    ]  # newest first
    since = (T0 + timedelta(minutes=2)).isoformat()
    until_ = (T0 + timedelta(minutes=4)).isoformat()
    assert await _names(client, ids, **{"from": since, "to": until_}) == ["cat", "whale"]
    assert await _names(client, ids, q="fox", **{"from": since}) == ["whale"]
    assert await _names(client, ids, has_time="false") == []

    # counts ride in headers; the body stays a list
    response = await client.get("/api/v1/assets", params={"q": "fox", "limit": 1})
    assert response.headers["X-Total-Count"] == "3" and response.headers["X-Total-Count-Exact"] == "true"
    response = await client.get("/api/v1/assets", params={"model": "juggernautXL"})
    assert response.headers["X-Total-Count"] == "3"

    # a ranked search pages by (rank, id): page by page it gives what one page gives
    seen, cursor = [], None
    while True:
        params = {"q": "fox", "limit": "1", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/assets", params=params)
        seen += [a["asset_id"] for a in response.json()]
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert seen == [ids[n] for n in ("fox-portrait", "fox-snow", "whale")]
    # a search cursor is not a gallery cursor
    first = await client.get("/api/v1/assets", params={"q": "fox", "limit": 1})
    wrong = await client.get("/api/v1/assets", params={"cursor": first.headers["X-Next-Cursor"]})
    assert wrong.status_code == 422

    # facets under the same filters: over the whole library from the counts ingest keeps, exact
    response = await client.get("/api/v1/facets")
    assert response.headers["X-Facets-Exact"] == "true"
    facets = response.json()
    assert facets == {
        "tool": [{"value": "a1111", "count": 5}],
        "model": [{"value": "juggernautXL", "count": 3}, {"value": "sdxl_base", "count": 2}],
        "lora": [
            {"value": "film_grain", "count": 2},
            {"value": "add_detail", "count": 1},
            {"value": "ink_wash", "count": 1},
        ],
    }
    response = await client.get("/api/v1/facets", params={"q": "fox", "model": "juggernautXL"})
    assert response.headers["X-Facets-Exact"] == "true"
    assert response.json() == {
        "tool": [{"value": "a1111", "count": 2}],
        "model": [{"value": "juggernautXL", "count": 2}],
        "lora": [{"value": "film_grain", "count": 1}],
    }

    # another workspace's assets never appear, and its own search sees only its own
    assert set(ids.values()).isdisjoint(other_ids.values())
    for params in ({"q": "fox"}, {"q": "red", "model": "juggernautXL"}, {}):
        seen_ids = {a["asset_id"] for a in (await client.get("/api/v1/assets", params=params)).json()}
        assert seen_ids <= set(ids.values())
    assert await _names(other, other_ids, q="fox") == ["other-fox"]
    assert (await other.get("/api/v1/facets")).json()["model"] == [{"value": "juggernautXL", "count": 1}]


async def test_bad_filters_are_422(stack, new_tenant) -> None:
    _, client = await new_tenant()
    for params in (
        {"from": "yesterday"},
        {"to": "2025-13-01"},
        {"from": "12345"},
        {"session": "not-a-uuid"},
        {"has_time": "maybe"},
        {"q": "fox\x00"},
    ):
        for path in ("/api/v1/assets", "/api/v1/facets"):
            response = await client.get(path, params=params)
            assert response.status_code == 422, (path, params, response.text)


async def test_facet_counts_follow_the_assets_table(stack, new_tenant, monkeypatch) -> None:
    """The kept counts equal a GROUP BY over the workspace's assets after imports and after a delete;
    past the sample size, facets under filters are scaled from a sample and say so."""
    _, client = await new_tenant()
    ids = await _upload(client, IMAGES, seed0=300)
    pool = stack["gateway"].pool
    tenant = await pool.fetchval("SELECT tenant_id FROM ingest.assets WHERE asset_id = $1", ids["cat"])

    async def kept() -> dict[tuple[str, str], int]:
        rows = await pool.fetch(
            "SELECT facet, value, sum(n) AS n FROM ingest.facet_totals WHERE tenant_id = $1 "
            "GROUP BY facet, value HAVING sum(n) <> 0",
            tenant,
        )
        return {(r["facet"], r["value"]): r["n"] for r in rows}

    async def grouped() -> dict[tuple[str, str], int]:
        rows = await pool.fetch(
            """SELECT facet, value, count(*) AS n FROM (
                   SELECT 'tool' AS facet, tool AS value FROM ingest.assets WHERE tenant_id = $1 AND tool IS NOT NULL
                   UNION ALL SELECT 'model', model FROM ingest.assets WHERE tenant_id = $1 AND model IS NOT NULL
                   UNION ALL SELECT 'lora', l FROM ingest.assets, unnest(loras) l WHERE tenant_id = $1
               ) v GROUP BY facet, value""",
            tenant,
        )
        return {(r["facet"], r["value"]): r["n"] for r in rows}

    assert await kept() == await grouped() == {
        ("tool", "a1111"): 5, ("model", "juggernautXL"): 3, ("model", "sdxl_base"): 2,
        ("lora", "film_grain"): 2, ("lora", "add_detail"): 1, ("lora", "ink_wash"): 1,
    }  # fmt: skip
    # ingest folds the changes at the end of each batch: nothing of this workspace is left unfolded
    assert (
        await pool.fetchval("SELECT count(*) FROM ingest.facet_count_changes WHERE tenant_id = $1", tenant)
        == 0
    )

    await pool.execute("DELETE FROM ingest.assets WHERE asset_id = $1", ids["city"])
    assert await kept() == await grouped()
    facets = (await client.get("/api/v1/facets")).json()
    assert facets["lora"] == [{"value": "film_grain", "count": 1}, {"value": "ink_wash", "count": 1}]
    await pool.execute("SELECT ingest.fold_facet_changes()")
    assert await kept() == await grouped()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ingest.facet_counts WHERE tenant_id = $1 AND value = 'add_detail'", tenant
        )
        == 0
    )  # a value no asset has any more is gone, not kept at 0

    # under filters, more matches than the sample: counts scaled from the sample, marked inexact
    monkeypatch.setattr("services.gateway.repository.FACET_SAMPLE", 2)
    response = await client.get("/api/v1/facets", params={"model": "sdxl_base", "has_time": "true"})
    assert response.headers["X-Facets-Exact"] == "true"  # 2 matches: within the sample
    response = await client.get("/api/v1/facets", params={"q": "a"})
    assert response.headers["X-Facets-Exact"] == "false"
    scaled = response.json()
    assert [v["value"] for v in scaled["tool"]] == ["a1111"] and scaled["tool"][0]["count"] >= 3
