"""`atelier sessions segment`: cut a CSV of generation times into sessions, offline.

It runs the very `segment()` the clustering service uses, so a rule's quality can be scored
on labelled timelines without a database. Input: a header row, then `tenant,timestamp`
(ISO 8601; a bare date such as 2024-03-09 is day precision; naive times are read in --tz;
an empty timestamp means the asset has no time and gets no session). Output on stdout:
`tenant,timestamp,session` in input order, sessions named `<tenant>-s1`, `-s2`, ... by start.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

from libs.sessions.segmentation import DEFAULT_RULE, FixedGap, Moment, SessionRule, segment


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sessions = subparsers.add_parser("sessions", help="group generation times into sessions")
    commands = sessions.add_subparsers(dest="sessions_command", required=True)
    seg = commands.add_parser("segment", help="segment a CSV of tenant,timestamp rows")
    seg.add_argument("--input", required=True, help="CSV file with a tenant,timestamp header ('-' for stdin)")
    seg.add_argument("--gap", type=float, help=f"fixed gap in minutes (default: {DEFAULT_RULE.describe()})")
    seg.add_argument("--tz", default="UTC", help="zone of naive timestamps (default UTC)")
    seg.set_defaults(func=run_segment)


def parse_moment(asset_id: str, text: str, zone: ZoneInfo) -> Moment | None:
    text = text.strip()
    if not text:
        return None
    if len(text) == 10:  # YYYY-MM-DD: only the day is known
        day = date.fromisoformat(text)
        return Moment(asset_id, datetime(day.year, day.month, day.day, tzinfo=zone), "day")
    at = datetime.fromisoformat(text)
    return Moment(asset_id, at if at.tzinfo else at.replace(tzinfo=zone))


def session_labels(rows: list[tuple[str, str]], rule: SessionRule, zone: ZoneInfo) -> list[str]:
    """The session name of every row, '' for rows without a time."""
    by_tenant: dict[str, list[Moment]] = {}
    for i, (tenant, timestamp) in enumerate(rows):
        moment = parse_moment(str(i), timestamp, zone)
        if moment is not None:
            by_tenant.setdefault(tenant, []).append(moment)
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
        rows = [(r["tenant"], r["timestamp"] or "") for r in reader]
    try:
        labels = session_labels(rows, rule, zone)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["tenant", "timestamp", "session"])
    for (tenant, timestamp), label in zip(rows, labels, strict=True):
        out.writerow([tenant, timestamp, label])
    return 0
