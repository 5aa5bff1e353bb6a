"""A heavy user's library, bulk-loaded for the API benchmark: N assets in M sessions of one workspace.

Rows go in with COPY through the owners' own tables (ingest.assets, clustering.members, sessions and
tenant_state; the workspace itself is made by the gateway's own code), the way a restore would: the tables, indexes and views
are those the migrations made, so the gateway reads exactly what it reads in production. A million
assets load in minutes, not hours (the figure is printed).

What the library looks like: sessions of 1 to ~300 images (mean N/M), 20-90 s apart inside a session,
hours to days between sessions, going back from a fixed date; each session explores one to four ideas
(subject x style x medium from a small vocabulary, so a one-word search matches a realistic share), in
one tool and model, sometimes with a LoRA tag in the prompt. Deterministic for a seed.

Flags (clustering.flags): about 7 % of the assets, as a person curates: about a third of the sessions
were gone through, and in those runs of 1-6 neighbouring images are picks (keepers cluster where an
idea worked, ~14 % of such a session) and a few others rejects (~4 %); the rest of the library, old or
not looked at, has none. So picks are ~5 % of the library, rejects ~1.5 %, spread over the whole time.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

SUBJECTS = [
    "lighthouse", "astronaut", "fox", "cathedral", "robot", "dragon", "samurai", "jellyfish", "library",
    "lighthouse keeper", "orchid", "tram", "desert caravan", "owl", "violinist", "greenhouse", "glacier",
    "market street", "koi pond", "clockmaker", "submarine", "tea house", "wolf", "carousel", "volcano",
]  # fmt: skip
STYLES = [
    "oil painting", "watercolor", "35mm photo", "ukiyo-e", "art nouveau", "isometric 3d render", "charcoal sketch",
    "cinematic still", "pixel art", "matte painting", "risograph print", "studio portrait",
]  # fmt: skip
MOODS = ["at dusk", "in the rain", "under neon lights", "at dawn", "in fog", "in winter", "at golden hour"]
TOOLS: list[tuple[str, list[str | None]]] = [("comfyui", ["flux1-dev", "sd_xl_base_1.0", "juggernautXL_v9"]), ("a1111", ["sd_xl_base_1.0", "ponyDiffusionV6XL"]),
         ("midjourney", [None]), ("invokeai", ["sd_xl_base_1.0"]), ("fooocus", ["juggernautXL_v9"])]  # fmt: skip
LORAS = ["film_grain", "add_detail", "pixel_style", "ink_wash"]
START = datetime(2026, 11, 1, tzinfo=UTC)

ASSET_COLUMNS = (
    "asset_id", "tenant_id", "sha256", "filename", "source", "size_bytes", "format", "tool", "prompt", "seed",
    "model", "sampler", "steps", "cfg", "width", "height", "generated_at", "timestamp_source",
    "timestamp_precision", "card_key", "detail_key", "dominant_colors", "metadata",
)  # fmt: skip
MEMBER_COLUMNS = ("asset_id", "tenant_id", "session_id", "generated_at", "precision", "prompt", "dominant_color",
                  "thumbnail_key", "tool", "model")  # fmt: skip
FLAG_COLUMNS = ("tenant_id", "asset_id", "flag", "updated_at")
SESSION_COLUMNS = ("session_id", "tenant_id", "start_at", "end_at", "asset_count", "precision", "cover_asset_ids",
                   "summary")  # fmt: skip
CURATED_SESSIONS = 0.35  # share of sessions the person went through
PICK_RUN_START = 0.055  # per image of such a session: a run of picks starts here
REJECT = 0.045  # per other image of such a session


def session_flags(rng: random.Random, size: int) -> list[str | None]:
    """One session's flags in generation order: none unless the person went through it; then runs of
    picks (1-6 neighbours) and scattered rejects."""
    flags: list[str | None] = [None] * size
    if rng.random() >= CURATED_SESSIONS:
        return flags
    i = 0
    while i < size:
        if rng.random() < PICK_RUN_START:
            run = rng.randint(1, 6)
            flags[i : i + run] = ["pick"] * len(flags[i : i + run])
            i += run
            continue
        if rng.random() < REJECT:
            flags[i] = "reject"
        i += 1
    return flags


def session_sizes(rng: random.Random, n_assets: int, n_sessions: int) -> list[int]:
    """Sizes summing to n_assets, most sessions small and a few large (a geometric-like spread)."""
    weights = [rng.expovariate(1.0) for _ in range(n_sessions)]
    total = sum(weights)
    sizes = [max(1, int(w / total * n_assets)) for w in weights]
    i = 0
    while sum(sizes) != n_assets:  # settle the rounding on the sessions in turn
        sizes[i % n_sessions] += 1 if sum(sizes) < n_assets else (-1 if sizes[i % n_sessions] > 1 else 0)
        i += 1
    return sizes


async def load_library(
    conn: asyncpg.Connection,
    *,
    tenant_id: uuid.UUID,
    n_assets: int,
    n_sessions: int,
    seed: int = 11,
    flagged: bool = False,
) -> dict[str, float]:
    """Load the library into the workspace `tenant_id` (made by the gateway's `ensure_tenant`); returns
    seconds per table. `flagged`: with the person's picks and rejects (the API benchmark's keepers cases);
    without, every asset is in the gallery, as the scrolling and export figures count on."""
    rng = random.Random(seed)
    flag_rng = random.Random(
        seed + 1
    )  # its own stream: the assets and sessions are those of runs before flags
    timings: dict[str, float] = {}
    await conn.execute("INSERT INTO clustering.tenant_state (tenant_id) VALUES ($1)", tenant_id)

    assets: list[tuple[object, ...]] = []
    members: list[tuple[object, ...]] = []
    sessions: list[tuple[object, ...]] = []
    flags: list[tuple[object, ...]] = []
    t = START
    for size in session_sizes(rng, n_assets, n_sessions):
        session_id = uuid.uuid4()
        tool, models = rng.choice(TOOLS)
        model = rng.choice(models)
        lora = rng.choice(LORAS) if rng.random() < 0.3 else None
        ideas = [f"a {rng.choice(SUBJECTS)} {rng.choice(MOODS)}, {rng.choice(STYLES)}"
                 + (f", <lora:{lora}:0.8>" if lora else "") for _ in range(rng.randint(1, 4))]  # fmt: skip
        times = []
        at = t
        for _ in range(size):
            times.append(at)
            at -= timedelta(seconds=rng.uniform(20, 90))
        times.reverse()
        ids = [uuid.uuid4() for _ in range(size)]
        for asset_id, when, flag in zip(ids, times, session_flags(flag_rng, size), strict=True):
            if flagged and flag is not None:  # flagged some time after the session
                flags.append((tenant_id, asset_id, flag, when + timedelta(hours=flag_rng.uniform(1, 48))))
        for i, (asset_id, when) in enumerate(zip(ids, times, strict=True)):
            prompt = ideas[i * len(ideas) // size]
            colour = f"#{rng.randrange(2**24):06x}"
            card, detail = f"{tenant_id}/{asset_id}/card.webp", f"{tenant_id}/{asset_id}/detail.webp"
            assets.append((asset_id, tenant_id, f"{asset_id.int:064x}"[-64:], f"{asset_id.hex[:12]}.png", "upload",
                           1_500_000, "PNG", tool, prompt, rng.randrange(2**32), model, "euler", 28, 6.5, 1024, 1024,
                           when, "embedded", "second", card, detail, [colour], json.dumps({"tool": tool})))  # fmt: skip
            members.append(
                (asset_id, tenant_id, session_id, when, "second", prompt, colour, card, tool, model)
            )
        summary = json.dumps({"phrases": [p.split(",")[0] for p in ideas][:5],
                              "tools": [{"name": tool, "count": size}],
                              "models": [{"name": model, "count": size}] if model else []})  # fmt: skip
        sessions.append((session_id, tenant_id, times[0], times[-1], size, "second", ids[:9], summary))
        t = times[0] - timedelta(hours=rng.uniform(2, 60))

    for table, columns, rows in (("assets", ASSET_COLUMNS, assets), ("members", MEMBER_COLUMNS, members),
                                 ("sessions", SESSION_COLUMNS, sessions), ("flags", FLAG_COLUMNS, flags)):  # fmt: skip
        schema = "ingest" if table == "assets" else "clustering"
        started = time.perf_counter()
        await conn.copy_records_to_table(table, schema_name=schema, columns=list(columns), records=rows)
        timings[f"{schema}.{table}"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("SELECT ingest.fold_facet_changes()")  # as ingest does after each batch
    timings["facet counts"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute(
        "ANALYZE ingest.assets; ANALYZE clustering.members; ANALYZE clustering.sessions; ANALYZE clustering.flags"
    )
    timings["analyze"] = time.perf_counter() - started
    # What autovacuum does within a minute of such a load (PG 13+ vacuums after inserts), done here
    # because this machine's server runs with autovacuum off, so that no figure depends on it:
    # - the flags' visibility map: without it an index-only scan of the flags visits the heap for each
    #   row (the reject check in a count: a scan of the whole table instead, +4 ms);
    # - the search and LoRA GIN indexes' pending lists, which COPY leaves 1-3 MB long (of the 4 MB
    #   gin_pending_list_limit) and every GIN scan reads through: the search with two filters took
    #   36 ms of database time with them, 26 ms without. Between two autovacuums in production they
    #   grow back to at most 4 MB.
    started = time.perf_counter()
    await conn.execute("VACUUM clustering.flags")
    for index in ("ingest.assets_search", "ingest.assets_loras"):
        await conn.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")
    timings["vacuum"] = time.perf_counter() - started
    return timings
