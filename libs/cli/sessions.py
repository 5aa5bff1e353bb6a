"""`atelier sessions segment`: cut a CSV of generation times into sessions, offline.

It runs the very `segment()` the clustering service uses, so a rule's quality can be scored
on labelled timelines without a database. Input: a header row, then `tenant,timestamp`
(ISO 8601; a bare date such as 2024-03-09 is day precision; naive times are read in --tz;
an empty timestamp means the asset has no time and gets no session), and optionally what the
service reads from each image's metadata: `prompt`, `model`, `tool`, `seed` (an integer) and
`loras` (names separated by `;`). An empty cell, or a missing column, means unknown; with times
alone the answer is exactly the time rule's. Output on stdout: `tenant,timestamp,session` in
input order, sessions named `<tenant>-s1`, `-s2`, ... by start.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from libs.sessions.segmentation import DEFAULT_RULE, FixedGap, Moment, SessionRule, segment

CONTENT_COLUMNS = ("prompt", "model", "tool", "seed", "loras")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sessions = subparsers.add_parser("sessions", help="group generation times into sessions")
    commands = sessions.add_subparsers(dest="sessions_command", required=True)
    seg = commands.add_parser(
        "segment", help="segment a CSV of tenant,timestamp[,prompt,model,tool,seed,loras] rows"
    )
    seg.add_argument(
        "--input",
        required=True,
        help="CSV file with a tenant,timestamp header, optionally prompt,model,tool,seed,loras ('-' for stdin)",
    )
    seg.add_argument("--gap", type=float, help=f"fixed gap in minutes (default: {DEFAULT_RULE.describe()})")
    seg.add_argument("--tz", default="UTC", help="zone of naive timestamps (default UTC)")
    seg.set_defaults(func=run_segment)


@dataclass(frozen=True)
class Row:
    tenant: str
    timestamp: str
    content: dict[str, str]  # the optional content columns the file has, as written


def parse_content(cells: dict[str, str]) -> dict[str, object]:
    """The Moment fields of a row's content cells, as the service fills them from an image's
    metadata; an empty cell is unknown (None), and so is a column the file lacks."""
    out: dict[str, object] = {}
    for column in CONTENT_COLUMNS:
        text = (cells.get(column) or "").strip()
        if not text:
            continue
        if column == "seed":
            try:
                out["seed"] = int(text)
            except ValueError:
                raise ValueError(f"seed {text!r} is not an integer") from None
        elif column == "loras":
            out["loras"] = tuple(sorted(name.strip() for name in text.split(";") if name.strip()))
        else:
            out[column] = text
    return out


def parse_moment(
    asset_id: str, text: str, zone: ZoneInfo, content: dict[str, str] | None = None
) -> Moment | None:
    text = text.strip()
    if not text:
        return None
    made = parse_content(content or {})
    if len(text) == 10:  # YYYY-MM-DD: only the day is known
        day = date.fromisoformat(text)
        return Moment(asset_id, datetime(day.year, day.month, day.day, tzinfo=zone), "day", **made)  # type: ignore[arg-type]
    at = datetime.fromisoformat(text)
    return Moment(asset_id, at if at.tzinfo else at.replace(tzinfo=zone), **made)  # type: ignore[arg-type]


def session_labels(rows: list[Row], rule: SessionRule, zone: ZoneInfo) -> list[str]:
    """The session name of every row, '' for rows without a time."""
    by_tenant: dict[str, list[Moment]] = {}
    for i, row in enumerate(rows):
        moment = parse_moment(str(i), row.timestamp, zone, row.content)
        if moment is not None:
            by_tenant.setdefault(row.tenant, []).append(moment)
    labels = [""] * len(rows)
    for tenant, moments in by_tenant.items():
        for n, session in enumerate(segment(moments, rule), start=1):
            for moment in session:
                labels[int(moment.asset_id)] = f"{tenant}-s{n}"
    return labels


def run_segment(args: argparse.Namespace) -> int:
    rule: SessionRule = FixedGap(args.gap) if args.gap is not None else DEFAULT_RULE
    zone = ZoneInfo(args.tz)
    source = sys.stdin if args.input == "-" else open(args.input, newline="", encoding="utf-8")
    with source:
        reader = csv.DictReader(source)
        missing = {"tenant", "timestamp"} - set(reader.fieldnames or ())
        if missing:
            print(f"error: {args.input} lacks column(s) {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
        present = [c for c in CONTENT_COLUMNS if c in (reader.fieldnames or ())]
        rows = [Row(r["tenant"], r["timestamp"] or "", {c: r[c] or "" for c in present}) for r in reader]
    try:
        labels = session_labels(rows, rule, zone)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["tenant", "timestamp", "session"])
    for row, label in zip(rows, labels, strict=True):
        out.writerow([row.tenant, row.timestamp, label])
    return 0
