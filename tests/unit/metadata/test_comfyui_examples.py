"""The ComfyUI documentation's own example workflows (../shared/corpus/comfyui_examples, one folder
per workflow kind): every image whose base pass has a text encoder comes out with a prompt.

Whether the base pass "has a text encoder" is decided here without the reader's conditioning
tracer: a plain walk back over every link from the base sampler's positive input, looking for a
node whose class name says it encodes text and that holds a non-empty literal text. The base pass
itself must be a sampler no other sampler feeds, and the files where no unique base exists are
listed by name, so a reader that picks no base (or a wrong one) fails here too.

`python -m tests.unit.metadata.test_comfyui_examples` prints the share table of the README.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from libs.metadata import read_generation

from .test_comfyui import graphs_in

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO.parent / "shared" / "corpus" / "comfyui_examples"
IMAGE_SUFFIXES = (".png", ".webp")

# Independent generations merged into one image: no unique base pass, by the rule of issue 17.
NO_UNIQUE_BASE = {
    "noisy_latent_composition/noisy_latents_3_subjects.png",
    "noisy_latent_composition/noisy_latents_3_subjects_.png",
}
TEXT_KEYS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt", "populated_text")


def example_files() -> list[str]:
    assert EXAMPLES.is_dir(), f"the ComfyUI examples corpus is missing at {EXAMPLES}"
    return sorted(
        str(path.relative_to(EXAMPLES)) for path in EXAMPLES.rglob("*") if path.suffix in IMAGE_SUFFIXES
    )


@cache
def read_example(name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the record's JSON, the raw API graph or None) for one example file."""
    path = EXAMPLES / name
    record = read_generation(path.read_bytes(), filename=path.name).to_json()
    graph, _ = graphs_in(path)
    return record, graph


def links_of(node: dict[str, Any]) -> list[str]:
    return [
        str(value[0])
        for value in node.get("inputs", {}).values()
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
    ]


def reaches_text_encoder(graph: dict[str, Any], start: Any) -> bool:
    """Does a node that encodes non-empty literal text lie behind the link ``start``?"""
    if not (isinstance(start, list) and len(start) == 2):
        return False
    pending, seen = [str(start[0])], set()
    while pending:
        node_id = pending.pop()
        node = graph.get(node_id)
        if node_id in seen or not isinstance(node, dict):
            continue
        seen.add(node_id)
        kind = node.get("class_type", "")
        texts = [node["inputs"].get(key) for key in TEXT_KEYS]
        if ("TextEncode" in kind or "TextBox" in kind) and any(
            isinstance(t, str) and t.strip() for t in texts
        ):
            return True
        pending += links_of(node)
    return False


def base_positive(graph: dict[str, Any], base: str) -> Any:
    """The base sampler's positive conditioning link, through a guider for custom samplers."""
    inputs = graph[base]["inputs"]
    guider = graph.get(str(inputs["guider"][0])) if isinstance(inputs.get("guider"), list) else None
    holder = guider["inputs"] if guider else inputs
    return holder.get("positive", holder.get("conditioning", holder.get("cond1")))


def feeds(graph: dict[str, Any], upstream: str, downstream: str) -> bool:
    """Is ``upstream`` reachable backwards from ``downstream`` over any links?"""
    pending, seen = links_of(graph[downstream]), set()
    while pending:
        node_id = pending.pop()
        if node_id == upstream:
            return True
        if node_id in seen or node_id not in graph:
            continue
        seen.add(node_id)
        pending += links_of(graph[node_id])
    return False


@pytest.mark.parametrize("name", example_files())
def test_an_image_whose_base_pass_has_a_text_encoder_has_a_prompt(name: str) -> None:
    record, graph = read_example(name)
    comfy = record["extra"].get("comfyui")
    if graph is None or comfy is None or comfy["from_workflow"]:
        return  # not a ComfyUI API graph (input images, UI-only exports): nothing to trace
    base = comfy["base"]
    if name in NO_UNIQUE_BASE:
        assert base is None and record["prompt"] is None
        assert any("no unique base pass" in note for note in comfy["notes"])
        return
    assert base is not None, comfy["notes"]
    others = [s["node_id"] for s in comfy["samplers"] if s["node_id"] != base]
    assert not any(feeds(graph, other, base) for other in others), "another sampler feeds the base"
    if reaches_text_encoder(graph, base_positive(graph, base)):
        assert record["prompt"], f"{name}: the base pass #{base} has a text encoder but no prompt came out"
        assert record["prompt"] == "\n".join(comfy["prompt_parts"])


def test_every_example_with_a_text_encoder_on_its_base_pass_has_a_prompt() -> None:
    table = share_by_kind()
    assert sum(row["api"] for row in table.values()) == 107
    for kind, row in table.items():
        assert row["prompt"] >= row["text_on_base"], kind


def share_by_kind() -> dict[str, dict[str, int]]:
    """Per folder: images, images with an API graph, those whose base pass has a text encoder,
    and those that came out with a non-empty prompt."""
    table: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("images", "api", "text_on_base", "prompt"), 0)
    )
    for name in example_files():
        row = table[name.split("/", 1)[0]]
        row["images"] += 1
        record, graph = read_example(name)
        comfy = record["extra"].get("comfyui")
        if graph is None or comfy is None or comfy["from_workflow"]:
            continue
        row["api"] += 1
        base = comfy["base"]
        row["text_on_base"] += bool(base and reaches_text_encoder(graph, base_positive(graph, base)))
        row["prompt"] += bool(record["prompt"])
    return dict(sorted(table.items()))


if __name__ == "__main__":
    rows = share_by_kind()
    print("| kind | images | with API graph | base pass has text | non-empty prompt |")
    print("|---|---:|---:|---:|---:|")
    for kind, row in rows.items():
        print(f"| {kind} | {row['images']} | {row['api']} | {row['text_on_base']} | {row['prompt']} |")
    total = {
        key: sum(row[key] for row in rows.values()) for key in ("images", "api", "text_on_base", "prompt")
    }
    print(f"| all | {total['images']} | {total['api']} | {total['text_on_base']} | {total['prompt']} |")
