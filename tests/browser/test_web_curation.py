"""Curation in Chromium against the real stack (issue 14): a session of 200 generated images in 12 ideas
reads as 12 stacks; a stack expands in place, collapses, is unstacked, and images are stacked by hand;
the change strip names a known change and opens its image; the inspector lists parents and children and
opens them; a node of the lineage graph opens the inspector. Flags with the keyboard: P picks (the pick
survives a reload and becomes its stack's cover), "Keepers only" shows the picks, X hides an image unless
"Show rejected", U clears; a search saved with "Keepers only" opens again as keepers only. Elements are
found by role and accessible name; a tile is told apart from its stack-mates (same prompt) by the
thumbnail it shows."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import sign_in
from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

BENCH = Path(__file__).resolve().parents[2] / "bench"  # a folder of scripts, not a package
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
T0_MS = 1_767_000_000_000  # 2025-12-29: the generated sessions' first image
GRID = "Images of this session"


NUMBERS = {"cfg": "CFG", "steps": "Steps", "seed": "Seed"}  # the change strip's names for them


def _number(value: float | int) -> str:
    """A number as the change strip writes it: 7.0 as 7, 4.5 as 4.5."""
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


def _watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


async def _generated_session(client: httpx.AsyncClient, n_images: int, n_ideas: int, seed: int) -> str:
    """Upload a generated session (real A1111 PNGs) and wait until clustering stacked all of it."""
    sys.path.insert(0, str(BENCH))
    from lineage_families import idea_session_files

    files = idea_session_files(n_images=n_images, n_ideas=n_ideas, start_ms=T0_MS, seed=seed)
    for k in range(0, len(files), 25):
        chunk = files[k : k + 25]
        response = await client.post(
            "/api/v1/assets",
            files=[("files", (name, data, "image/png")) for name, data, _ in chunk],
            data={"last_modified": [str(ms) for _, _, ms in chunk]},
        )
        assert response.status_code == 200, response.text

    async def session() -> str | None:
        cards = (await client.get("/api/v1/sessions")).json()
        return next((c["id"] for c in cards if c["asset_count"] == n_images), None)

    session_id = await until(session, within=120.0)
    assert session_id, f"no session of {n_images} images"

    async def stacked() -> bool:
        stacks = await _stacks(client, session_id)
        return sum(s["size"] for s in stacks) == n_images

    assert await until(stacked, within=120.0), "the stacks never held the whole session"
    return str(session_id)


async def _stacks(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/sessions/{session_id}/stacks")
    assert response.status_code == 200, response.text
    return list(response.json()["stacks"])


async def _filenames(client: httpx.AsyncClient, session_id: str) -> dict[str, str]:
    params: dict[str, str | int] = {"limit": 500, "include_rejected": "true"}
    assets = (await client.get(f"/api/v1/sessions/{session_id}/assets", params=params)).json()
    return {a["asset_id"]: a["filename"] for a in assets}


def _tile(page, asset_id: str):  # type: ignore[no-untyped-def]
    """The grid's tile showing this image (its thumbnail names the image)."""
    grid = page.get_by_role("group", name=GRID)
    return grid.locator("button.tile").filter(has=page.locator(f'img[src*="{asset_id}"]'))


async def _expand(page, cover: str, size: int) -> None:  # type: ignore[no-untyped-def]
    """Click the Expand button over the stack tile showing `cover` (drawn over the tile, after it)."""
    over = _tile(page, cover).locator("xpath=following-sibling::div[1]")
    await over.get_by_role("button", name=f"Expand stack of {size}").click()


async def _axe(page) -> list[str]:  # type: ignore[no-untyped-def]
    await page.evaluate(AXE.read_text())
    result = await page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_a_session_of_12_ideas_reads_as_12_stacks(page, gateway_url, new_tenant, artifacts) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session_id = await _generated_session(client, 200, 12, seed=14)
    stacks = await _stacks(client, session_id)
    names = await _filenames(client, session_id)
    stacked = [s for s in stacks if s["size"] > 1]
    assert 11 <= len(stacked) <= 13, [s["size"] for s in stacks]
    errors = _watch(page)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions/{session_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("200 images")

    # collapsed: one tile per stack, each with its Expand button naming its size
    grid = page.get_by_role("group", name=GRID)
    expand = grid.get_by_role("button", name=re.compile(r"^Expand stack of \d+$"))
    await expect(expand).to_have_count(len(stacked), timeout=30_000)
    await expect(grid.locator("img")).to_have_count(len(stacks))
    await expect(page.get_by_role("status").filter(has_text="stacks of variations")).to_have_text(
        f"{len(stacked)} stacks of variations"
    )
    for s in stacked:
        await expect(_tile(page, s["cover_asset_id"])).to_be_visible()
    await page.screenshot(path=str(artifacts / "1-stacks.png"), full_page=True)
    assert await _axe(page) == []

    # expand the smallest stack in place, then collapse it
    small = min(stacked, key=lambda s: s["size"])
    n = small["size"]
    await _expand(page, small["cover_asset_id"], n)
    await expect(grid.locator("img")).to_have_count(len(stacks) - 1 + n)
    for member in small["asset_ids"]:
        await expect(_tile(page, member)).to_have_attribute("aria-label", re.compile(f", in a stack of {n}$"))
    await page.screenshot(path=str(artifacts / "2-expanded.png"), full_page=True)
    await grid.get_by_role("button", name=f"Collapse stack of {n}").click()
    await expect(grid.locator("img")).to_have_count(len(stacks))

    # unstack it: its images stand alone, here and in the API (an edit that stays)
    await _expand(page, small["cover_asset_id"], n)
    await grid.get_by_role("button", name="Unstack", exact=True).click()
    await expect(grid.get_by_role("button", name=f"Collapse stack of {n}")).to_have_count(0)
    assert errors == [] and await page.get_by_role("alert").count() == 0, errors
    await expect(expand).to_have_count(len(stacked) - 1)
    await expect(grid.locator("img")).to_have_count(len(stacks) - 1 + n)
    after = [s for s in await _stacks(client, session_id) if set(s["asset_ids"]) & set(small["asset_ids"])]
    assert all(len(s["asset_ids"]) == 1 for s in after), [
        (
            small["size"],
            s["size"],
            s["manual"],
            s["reason"],
            len(set(s["asset_ids"]) & set(small["asset_ids"])),
        )
        for s in after
    ]

    # stack two of them again by hand
    pairs = await grid.get_by_role("button", name="Expand stack of 2").count()
    await page.get_by_role("button", name="Select", exact=True).click()
    first, second = small["asset_ids"][:2]
    await page.get_by_role("checkbox", name=f"Select {names[first]}").check()
    await _tile(page, second).click()  # while selecting, a click on the image selects it too
    await expect(page.get_by_role("checkbox", name=f"Select {names[second]}")).to_be_checked()
    await page.get_by_role("button", name="Stack selected (2)").click()
    await expect(grid.get_by_role("button", name="Expand stack of 2")).to_have_count(pairs + 1)
    assert any(set(s["asset_ids"]) == {first, second} for s in await _stacks(client, session_id))
    # selection ends with the edit
    await expect(page.get_by_role("button", name="Select", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )

    # remove one image from the largest stack, from the inspector: it stands alone, the rest stays
    big = max(stacked, key=lambda s: s["size"])
    await _expand(page, big["cover_asset_id"], big["size"])
    leaving = next(a for a in big["asset_ids"] if a != big["cover_asset_id"])
    await _tile(page, leaving).click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Remove from stack").click()
    await expect(dialog).to_be_hidden()
    await expect(_tile(page, leaving)).not_to_have_attribute("aria-label", re.compile("stack of"))
    await page.evaluate("window.scrollTo(0, 0)")
    await expect(grid.get_by_role("button", name=f"Collapse stack of {big['size'] - 1}")).to_be_visible()
    alone = [s for s in await _stacks(client, session_id) if leaving in s["asset_ids"]]
    assert [s["asset_ids"] for s in alone] == [[leaving]]
    await grid.get_by_role("button", name=f"Collapse stack of {big['size'] - 1}").click()

    # the change strip: a known change from the API, shown and linked to its image
    changes = (await client.get(f"/api/v1/sessions/{session_id}/changes")).json()["changes"]
    edit = next(c for c in changes if c["prompt_added"])
    strip = page.get_by_role("list", name="Changes between generations")
    added = re.escape(", ".join(edit["prompt_added"]))
    step = strip.get_by_role("button", name=re.compile(f"added {added}(;|$)", re.IGNORECASE))
    await step.first.scroll_into_view_if_needed()
    await expect(step.first.get_by_text(f"+{edit['prompt_added'][0]}", exact=True)).to_be_visible()
    await step.first.click()
    await expect(dialog.get_by_role("heading", level=2)).to_have_text(names[edit["asset_id"]])
    await page.keyboard.press("Escape")
    # and a step that changed one number only reads "CFG 5 → 7" (or steps, or seed)
    sweep = next(
        c
        for c in changes
        if len(c["parameters"]) == 1
        and c["parameters"][0]["name"] in NUMBERS
        and not (
            c["prompt_added"] or c["prompt_removed"] or c["model"] or c["loras_added"] or c["loras_removed"]
        )
    )
    change = sweep["parameters"][0]
    text = f"{NUMBERS[change['name']]} {_number(change['before'])} → {_number(change['after'])}"
    step = strip.get_by_role("button", name=f"Open the image where: {text}").first
    await expect(step.get_by_text(text, exact=True)).to_be_visible()
    await expect(dialog).to_be_hidden()

    # the inspector: a child's parents and children, each opening that image
    edges = (await client.get(f"/api/v1/sessions/{session_id}/lineage")).json()["edges"]
    assert edges
    covers = {s["cover_asset_id"] for s in await _stacks(client, session_id)}
    child = next(e["child_id"] for e in edges if e["child_id"] in covers)
    lineage = (await client.get(f"/api/v1/assets/{child}/lineage")).json()
    await _tile(page, child).click()
    await expect(dialog.get_by_role("heading", level=2)).to_have_text(names[child])
    parents = dialog.get_by_role("list", name="Parents").get_by_role("button")
    await expect(parents).to_have_count(len(lineage["parents"]))
    children = dialog.get_by_role("list", name="Children").get_by_role("button")
    await expect(children).to_have_count(len(lineage["children"]))
    parent = lineage["parents"][0]
    await expect(parents.first).to_contain_text(parent["evidence"])
    await page.screenshot(path=str(artifacts / "3-inspector-lineage.png"))
    assert await _axe(page) == []
    await parents.first.click()
    await expect(dialog.get_by_role("heading", level=2)).to_have_text(names[parent["asset_id"]])
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # the lineage graph: a node opens its image in the inspector
    await page.get_by_text("Lineage graph").click()
    graph = page.get_by_role("group", name="Lineage graph")
    await expect(graph).to_be_visible()
    nodes = graph.get_by_role("button")
    assert await nodes.count() >= len(stacked)
    await page.screenshot(path=str(artifacts / "4-graph.png"), full_page=True)
    assert await _axe(page) == []
    label = await nodes.first.get_attribute("aria-label")
    await nodes.first.click()
    await expect(dialog).to_be_visible()
    opened = await dialog.get_by_role("heading", level=2).text_content()
    assert opened in names.values(), (label, opened)
    assert errors == []


async def test_picks_and_rejects_with_the_keyboard(page, gateway_url, new_tenant, artifacts) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session_id = await _generated_session(client, 30, 3, seed=41)
    stacks = await _stacks(client, session_id)
    stack = max(stacks, key=lambda s: s["size"])
    n = stack["size"]
    assert n > 2
    errors = _watch(page)
    await sign_in(page, gateway_url, token)
    session_page = f"{gateway_url}/app/sessions/{session_id}"
    await page.goto(session_page)
    grid = page.get_by_role("group", name=GRID)
    await _expand(page, stack["cover_asset_id"], n)

    # P on a member that is not the cover picks it
    pick = next(a for a in stack["asset_ids"] if a != stack["cover_asset_id"])
    tile = _tile(page, pick)
    await tile.focus()
    await page.keyboard.press("p")
    await expect(tile).to_have_attribute("aria-label", re.compile(", picked, in a stack of"))

    async def picked() -> bool:
        asset = (await client.get(f"/api/v1/assets/{pick}")).json()
        return asset["flag"] == "pick"

    assert await until(picked)

    # after a reload: still picked, and the collapsed stack shows it as its cover
    await page.reload()
    await expect(grid.get_by_role("button", name=f"Expand stack of {n}")).to_be_visible(timeout=30_000)
    await expect(_tile(page, pick)).to_have_attribute("aria-label", re.compile(f", picked, stack of {n}$"))
    await page.screenshot(path=str(artifacts / "1-pick-is-cover.png"), full_page=True)

    # a pick made elsewhere (the API) reaches the open page live: its stack's cover follows
    third = next(s for s in stacks if s["stack_id"] != stack["stack_id"] and s["size"] > 1)
    elsewhere = next(a for a in third["asset_ids"] if a != third["cover_asset_id"])
    response = await client.put(f"/api/v1/assets/{elsewhere}/flag", json={"flag": "pick"})
    assert response.status_code == 200, response.text
    await expect(_tile(page, elsewhere)).to_be_visible(timeout=15_000)

    # keepers only: the picks alone, and the address says so
    await page.get_by_label("Keepers only").check()
    await expect(page).to_have_url(re.compile(r"[?&]flag=pick"))
    await expect(grid.locator("img")).to_have_count(2)
    await expect(_tile(page, pick)).to_be_visible()
    await expect(_tile(page, elsewhere)).to_be_visible()
    await page.get_by_label("Keepers only").uncheck()
    await expect(grid.locator("img")).to_have_count(len(stacks))

    # X on a cover rejects it: gone from the page (the focus moves on to the next image), back with
    # "Show rejected"
    other = next(s for s in stacks if s["stack_id"] not in (stack["stack_id"], third["stack_id"]))
    reject = other["cover_asset_id"]
    await _tile(page, reject).focus()
    await page.keyboard.press("x")
    await expect(_tile(page, reject)).to_have_count(0)
    await expect(grid.locator("button.tile:focus")).to_have_count(1)
    # the session's header counts it, and so does its card on the sessions page
    await expect(page.get_by_role("heading", level=1)).to_contain_text("30 images · 1 rejected")
    await page.get_by_role("link", name="Sessions", exact=True).click()
    await expect(page.get_by_role("link", name=re.compile("30 images · 1 rejected"))).to_be_visible()
    await page.goto(session_page)
    await page.reload()
    await expect(grid.get_by_role("button", name=re.compile("^Expand stack of"))).not_to_have_count(0)
    await expect(_tile(page, reject)).to_have_count(0)
    await page.get_by_label("Show rejected").check()
    await expect(page).to_have_url(re.compile(r"[?&]include_rejected=true"))
    if other["size"] > 1:  # the reject is a cover no more: its stack expands to show it
        now = next(s for s in await _stacks(client, session_id) if reject in s["asset_ids"])
        assert now["cover_asset_id"] != reject
        await _expand(page, now["cover_asset_id"], other["size"])
    await expect(_tile(page, reject)).to_have_attribute("aria-label", re.compile(", rejected"))

    # in the inspector: the flag shown, U clears it, the Pick button picks
    await _tile(page, reject).click()
    dialog = page.get_by_role("dialog")
    flags = dialog.get_by_role("group", name="Flag")
    await expect(flags).to_contain_text("Rejected")
    await expect(flags.get_by_role("button", name="Reject")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("u")
    await expect(flags).to_contain_text("Not flagged")
    await flags.get_by_role("button", name="Pick").click()
    await expect(flags).to_contain_text("Picked")
    await page.screenshot(path=str(artifacts / "2-inspector-flag.png"))
    assert await _axe(page) == []

    async def flag_of(asset_id: str) -> str | None:
        return (await client.get(f"/api/v1/assets/{asset_id}")).json()["flag"]

    assert await until(lambda: _is(flag_of(reject), "pick"))
    await page.keyboard.press("Escape")

    # the gallery: keepers only there too, in the address
    await page.goto(f"{gateway_url}/app/gallery")
    await page.get_by_label("Keepers only").check()
    await expect(page).to_have_url(re.compile(r"/app/gallery\?flag=pick"))
    gallery = page.get_by_role("group", name="Gallery")
    await expect(gallery.locator("img")).to_have_count(3)

    # saved with keepers only, the search opens again from the sidebar as keepers only
    await page.get_by_role("button", name="Save search").click()
    await page.get_by_label("Name").fill("My keepers")
    await page.get_by_role("button", name="Save", exact=True).click()
    main = page.get_by_role("navigation", name="Main")
    saved = main.get_by_role("link", name="My keepers", exact=True)
    await expect(saved).to_be_visible()
    assert [s["query"] for s in (await client.get("/api/v1/searches")).json()] == [{"flag": "pick"}]
    await main.get_by_role("link", name="Gallery", exact=True).click()
    await expect(page.get_by_label("Keepers only")).not_to_be_checked()
    await expect(gallery.locator("img")).not_to_have_count(3)
    await saved.click()
    await expect(page).to_have_url(re.compile(r"/app/gallery\?flag=pick$"))
    await expect(page.get_by_label("Keepers only")).to_be_checked()
    await expect(gallery.locator("img")).to_have_count(3)
    for keeper in (pick, elsewhere, reject):  # the reject was picked in the inspector
        await expect(gallery.locator(f'img[src*="{keeper}"]')).to_have_count(1)
    await page.screenshot(path=str(artifacts / "3-saved-keepers.png"))

    # rejected only: the rejects, to look over again; the "only" switches exclude each other
    listed = (await client.get(f"/api/v1/sessions/{session_id}/assets", params={"limit": 100})).json()
    spare = next(a["asset_id"] for a in listed if a["asset_id"] not in (pick, elsewhere, reject))
    response = await client.put(f"/api/v1/assets/{spare}/flag", json={"flag": "reject"})
    assert response.status_code == 200, response.text
    await page.get_by_label("Rejected only").check()
    await expect(page).to_have_url(re.compile(r"/app/gallery\?flag=reject$"))
    await expect(page.get_by_label("Keepers only")).not_to_be_checked()
    await expect(page.get_by_label("Show rejected")).to_be_disabled()
    await expect(gallery.locator("img")).to_have_count(1)
    await expect(gallery.locator(f'img[src*="{spare}"]')).to_have_count(1)
    # on the session's page too, from the address; a pick there takes the image off the page
    await page.goto(f"{session_page}?flag=reject")
    await expect(page.get_by_label("Rejected only")).to_be_checked()
    await expect(grid.locator("img")).to_have_count(1)
    await _tile(page, spare).focus()
    await page.keyboard.press("p")
    await expect(page.get_by_text("No rejects: reject images with X.")).to_be_visible()
    assert await until(lambda: _is(flag_of(spare), "pick"))
    assert errors == []


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
