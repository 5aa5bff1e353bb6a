"""`atelier inspect [--json] FILE_OR_DIR...`: show the generation metadata of images.

With --json, one JSON object per file per line (the `GenerationRecord.to_json()` contract,
without the bulky `raw` unless --raw). Directories are walked recursively. A file that
cannot be read still prints a line, with `error` set; the exit code is non-zero only for
usage errors (such as a path that does not exist).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.metadata import GenerationRecord, read_generation_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".heic", ".tif", ".tiff", ".bmp"}
SUMMARY_FIELDS = ("format", "tool", "model", "sampler", "steps", "cfg", "seed")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help="show the generation metadata of image files")
    parser.add_argument("paths", nargs="+", metavar="FILE", help="image files or directories (walked)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--raw", action="store_true", help="with --json: include every raw block read")
    parser.add_argument("--tz", default="UTC", help="zone for times written without one (default UTC)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        zone: tzinfo = UTC if args.tz == "UTC" else ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"atelier inspect: unknown time zone {args.tz!r}", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"atelier inspect: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        for path in iter_files(args.paths):
            record = read_generation_file(path, tenant_tz=zone)
            if args.json:
                data = record.to_json()
                if not args.raw:
                    data.pop("raw")
                print(json.dumps(data, ensure_ascii=False, allow_nan=False), flush=True)
            else:
                print(summary(record), flush=True)
    except BrokenPipeError:  # `atelier inspect ... | head` closed the pipe: not an error
        sys.stderr.close()
    return 0


def iter_files(paths: list[str]) -> Iterator[Path]:
    """Files as given; directories walked in name order, keeping image suffixes only."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES:
                    yield child
        else:
            yield path


def summary(record: GenerationRecord) -> str:
    lines = [str(record.path)]
    if record.error:
        lines.append(f"  error: {record.error}")
    size = f"{record.width}x{record.height}" if record.width else "?"
    facts = ", ".join(
        f"{name}={getattr(record, name)}" for name in SUMMARY_FIELDS if getattr(record, name) is not None
    )
    lines.append(f"  {facts or 'no generation metadata'}, size={size}")
    for label, text in (("prompt", record.prompt), ("negative", record.negative_prompt)):
        if text:
            short = text.replace("\n", " ")
            lines.append(f"  {label}: {short[:160]}{'…' if len(short) > 160 else ''}")
    samplers = (record.extra.get("comfyui") or {}).get("samplers") or []
    if len(samplers) > 1:
        # several samplers: list each instead of picking one
        lines.append(f"  {len(samplers)} sampler nodes:")
        for node in samplers:
            facts = ", ".join(
                f"{k}={node[k]}"
                for k in ("seed", "steps", "cfg", "sampler", "denoise", "model")
                if node.get(k) is not None
            )
            lines.append(f"    #{node.get('node_id')} {node.get('class_type')}: {facts}")
    if record.generated_at:
        lines.append(
            f"  generated: {record.generated_at.isoformat()} "
            f"(from {record.timestamp_source}, {record.timestamp_precision} precision)"
        )
    return "\n".join(lines)
