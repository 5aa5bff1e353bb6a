"""`make bench`: run every benchmark module, print a table, write bench/results.json.

A benchmark is a module `bench/bench_<name>.py` with `run() -> list[dict]`; each dict is
one row `{"name", "value", "unit", "baseline", "baseline_value", "ratio"}`, where the
baseline (the floor or the competitor) is measured in the same run as the value.
`python bench/run.py metadata sessions` runs only the named modules.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("name", "value", "unit", "baseline", "baseline_value", "ratio")


def discover(selected: list[str]) -> list[Path]:
    modules = sorted(HERE.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in selected]
    return modules


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HERE))
    spec.loader.exec_module(module)
    return module


def print_table(rows: list[dict]) -> None:
    header = f"{'benchmark':<52} {'value':>12} {'unit':<12} {'baseline':<34} {'baseline':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        bv = r.get("baseline_value")
        ratio = r.get("ratio")
        print(
            f"{r['name']:<52} {r['value']:>12.4g} {r['unit']:<12} {r.get('baseline') or '':<34} "
            f"{(f'{bv:.4g}' if bv is not None else ''):>12} {(f'{ratio:.2f}' if ratio is not None else ''):>7}"
        )


def main(argv: list[str]) -> int:
    rows: list[dict] = []
    out = HERE / "results.json"
    for path in discover(argv):
        started = time.perf_counter()
        print(f"== {path.stem} ...", flush=True)
        for row in load(path).run():
            missing = [f for f in FIELDS if f not in row]
            if missing:
                raise ValueError(f"{path.name}: row {row.get('name')} lacks {missing}")
            rows.append({f: row[f] for f in FIELDS})
        print(f"   done in {time.perf_counter() - started:.1f} s", flush=True)
    # a partial run keeps the other benchmarks' last figures, read now rather than at the start: another
    # partial run may have written its own while this one ran
    previous = {r["name"]: r for r in json.loads(out.read_text())} if out.exists() and argv else {}
    merged = {**previous, **{r["name"]: r for r in rows}}
    out.write_text(json.dumps(list(merged.values()), indent=2) + "\n")
    print()
    print_table(list(merged.values()))
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
