"""Quality on generated families with known answers (bench/lineage_families.py), on fixed seeds:
precision of inferred edges >= 0.95, recall >= 0.90, every explicit edge found and none made up; a
200-image session of 12 ideas reads as 12 stacks (±1), also when made of real A1111 PNG files."""

from __future__ import annotations

import io
import statistics
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from libs.lineage.linking import link_all
from libs.lineage.phash import hamming
from libs.lineage.stacks import StackEdits, stack_session
from libs.metadata.reader import read_generation

from .making import generation_of_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from lineage_families import Score, idea_session_files, idea_session_truth, labelled_session, score

SEEDS = (101, 102, 103)


def test_precision_recall_and_explicit_edges_on_labelled_sessions() -> None:
    total = Score()
    for seed in SEEDS:
        session = labelled_session(seed)
        total.add(score(session, link_all(session.gens)))
    assert total.inferred_made > 400 and total.explicit_expected > 30  # the sessions hold what is measured
    assert total.precision >= 0.95, total.wrong[:10]
    assert total.recall >= 0.90
    assert total.explicit_found == total.explicit_expected
    assert total.explicit_wrong == 0
    for relation in ("reroll", "sweep", "edit", "upscale", "derived", "img2img"):
        true, made, found, expected = total.by_relation[relation]
        assert expected > 0 and found / expected >= 0.9, relation
        assert made > 0 and true / made >= 0.9, relation


def test_distractors_stay_alone() -> None:
    """Images that share a prompt word, a common seed, or a seed from another tool with an idea being
    worked on are not linked to it."""
    for seed in SEEDS:
        session = labelled_session(seed)
        distractors = {s.asset_id for s in session.shots if s.action == "distractor"}
        assert len(distractors) >= 10
        touching = [e for e in link_all(session.gens) if {e.parent_id, e.child_id} & distractors]
        assert touching == []


def test_a_200_image_session_of_12_ideas_gives_12_stacks() -> None:
    for seed in SEEDS:
        session = labelled_session(seed, n_images=200, n_ideas=12, distractors=0, rich=False)
        stacks = stack_session(session.gens, link_all(session.gens), StackEdits(), {})
        assert abs(len(stacks) - 12) <= 1, seed
        idea = session.idea_of
        assert all(len({idea[a] for a in s.asset_ids}) == 1 for s in stacks)  # no stack mixes two ideas


def test_idea_session_files_are_a1111_pngs_that_stack_into_their_ideas() -> None:
    files = idea_session_files(n_images=200, n_ideas=12, start_ms=1_773_478_800_000, seed=14)
    truth = idea_session_truth(n_images=200, n_ideas=12, start_ms=1_773_478_800_000, seed=14)
    assert len(files) == 200 and len({name for name, _, _ in files}) == 200
    assert len(set(truth.values())) == 12
    gens = []
    for name, data, modified_ms in files:
        at = datetime.fromtimestamp(modified_ms / 1000, tz=UTC)
        record = read_generation(data, filename=name, file_mtime=at)
        assert record.tool == "a1111" and record.prompt and record.seed is not None and record.model
        assert record.steps and record.cfg and record.sampler and record.negative_prompt is not None
        assert record.generated_at == at  # A1111 writes no time: the file's time is the one
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"
        gens.append(generation_of_bytes(data, name, at=at))
    stacks = stack_session(gens, link_all(gens), StackEdits(), {})
    assert abs(len(stacks) - 12) <= 1
    assert all(len({truth[a] for a in s.asset_ids}) == 1 for s in stacks)
    # every idea has several images; pictures look alike within an idea and differ between ideas
    assert min(Counter(truth.values()).values()) >= 4
    within: list[int] = []
    between: list[int] = []
    for i, a in enumerate(gens):
        for b in gens[i + 1 :]:
            distance = hamming(a.facts.phash or "", b.facts.phash or "")
            (within if truth[a.asset_id] == truth[b.asset_id] else between).append(distance)
    assert statistics.mean(within) + 12 < statistics.mean(between)
