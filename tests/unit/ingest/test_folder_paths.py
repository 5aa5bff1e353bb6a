"""Which folders may be connected, and which files in them are import candidates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.ingest.folder_paths import FolderRefused, is_candidate, resolve_folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "allowed" / "renders" / "2025-03-21").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "allowed"


def refusal(path: str | Path, roots: list[str]) -> FolderRefused:
    with pytest.raises(FolderRefused) as caught:
        resolve_folder(str(path), roots)
    return caught.value


def test_a_directory_under_a_root_resolves_to_its_real_path(root: Path) -> None:
    assert resolve_folder(str(root / "renders"), [str(root)]) == (root / "renders").resolve()
    assert resolve_folder(str(root), [str(root)]) == root.resolve()


def test_any_of_several_roots_allows(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    assert resolve_folder(str(other), [str(root), str(other)]) == other.resolve()


def test_outside_every_root_is_forbidden(root: Path, tmp_path: Path) -> None:
    refused = refusal(tmp_path / "elsewhere", [str(root)])
    assert refused.status == 403 and "outside" in refused.reason


def test_dot_dot_cannot_climb_out_of_a_root(root: Path) -> None:
    refused = refusal(f"{root}/renders/../../elsewhere", [str(root)])
    assert refused.status == 403


def test_a_sibling_sharing_the_root_as_a_name_prefix_is_outside(tmp_path: Path, root: Path) -> None:
    (tmp_path / "allowed-not").mkdir()
    assert refusal(tmp_path / "allowed-not", [str(root)]).status == 403


def test_a_symlink_inside_a_root_that_leads_out_is_forbidden(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "elsewhere", root / "escape")
    assert refusal(root / "escape", [str(root)]).status == 403


def test_a_symlinked_root_is_compared_by_its_real_path(root: Path, tmp_path: Path) -> None:
    os.symlink(root, tmp_path / "alias")
    assert (
        resolve_folder(str(tmp_path / "alias" / "renders"), [str(tmp_path / "alias")])
        == (root / "renders").resolve()
    )


def test_a_missing_directory_is_a_bad_request(root: Path) -> None:
    refused = refusal(root / "not-there", [str(root)])
    assert refused.status == 400 and "does not exist" in refused.reason


def test_a_file_is_not_a_folder(root: Path) -> None:
    (root / "image.png").write_bytes(b"x")
    assert "not a directory" in refusal(root / "image.png", [str(root)]).reason


def test_relative_paths_and_disabled_roots_are_refused(root: Path) -> None:
    assert "absolute" in refusal("renders", [str(root)]).reason
    refused = refusal(root, [])
    assert refused.status == 403 and "disabled" in refused.reason


@pytest.mark.parametrize(
    ("relative_path", "candidate"),
    [
        ("image.png", True),
        ("2025-03-21/ComfyUI_0001_.png", True),
        ("no-extension", True),  # the bytes decide whether it is an image
        ("image.png.json", False),  # a sidecar is attached to its image, never an asset
        (".DS_Store", False),
        (".hidden/image.png", False),
        ("sub/.image.png", False),
        ("Thumbs.db", False),
        ("desktop.ini", False),
        ("~$draft.png", False),
        ("download.png.crdownload", False),
        ("copying.png.part", False),
    ],
)
def test_import_candidates(relative_path: str, candidate: bool) -> None:
    assert is_candidate(relative_path) is candidate


def test_a_folder_whose_real_path_is_not_utf8_is_refused(root: Path) -> None:
    # a JSON body can name one with lone surrogates (os.fsdecode's surrogateescape of its bytes);
    # PostgreSQL cannot store that path, so it is refused with a reason instead of a server error
    name = os.fsdecode(b"caf\xe9")
    (root / name).mkdir()
    refused = refusal(root / name, [str(root)])
    assert refused.status == 400 and "UTF-8" in refused.reason
