"""Arrows run one way: services import libs/, never each other; libs/ never imports services/.
Pure domain code two places share lives in libs/ as a package of its own (libs/metadata, libs/sessions)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_libs_never_import_services_and_services_never_import_each_other() -> None:
    wrong: list[str] = []
    for path in sorted([*(REPO / "libs").rglob("*.py"), *(REPO / "services").rglob("*.py")]):
        parts = path.relative_to(REPO).parts
        for name in _imports(path):
            if not name.startswith("services."):
                continue
            if parts[0] == "libs" or name.split(".")[1] != parts[1]:
                wrong.append(f"{'/'.join(parts)} imports {name}")
    assert not wrong, "\n".join(wrong)
