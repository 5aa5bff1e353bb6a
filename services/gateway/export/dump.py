"""`atelier admin export-workspace TENANT --to EXPORT.zip`: the export `GET /api/v1/export` streams,
written to a file by an operator straight from a database and the object store, with no gateway,
broker or HTTP in between.

Its use is point-in-time recovery (deploy/README.md, "Backups and restore"): restore the database to a
scratch instance at a time before the mistake, run this with `ATELIER_DATABASE_URL` naming the scratch
instance (and the live object store: originals are content-addressed, and versioning keeps deleted
ones), then `atelier admin restore-workspace` the zip into the live workspace. It only reads."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from libs.common.db import create_pool
from libs.common.storage import ObjectStore
from services.gateway.export.restore import RestoreRefused, workspace_subject
from services.gateway.export.service import ExportWriter
from services.gateway.settings import GatewaySettings


async def export_workspace(database_url: str, store: ObjectStore, tenant: str, path: Path) -> int:
    """Write the workspace's export to `path` (through a temporary name, so a failure leaves no half
    zip under it); returns its size in bytes."""
    pool = await create_pool(database_url, max_size=2)
    try:
        subject = await workspace_subject(pool, tenant)
        partial = path.with_name(path.name + ".partial")
        size = 0
        with partial.open("wb") as out:
            async for chunk in ExportWriter(pool, store, subject).stream():
                out.write(chunk)
                size += len(chunk)
        partial.replace(path)
        return size
    finally:
        await pool.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier admin export-workspace",
        description="Write a workspace's export (the zip GET /api/v1/export gives) from the database named by "
        "ATELIER_DATABASE_URL, e.g. a point-in-time restore on a scratch instance. Reads only.",
    )
    parser.add_argument("tenant", metavar="TENANT", help="the workspace: its id or name")
    parser.add_argument("--to", dest="target", required=True, type=Path, metavar="EXPORT.zip")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = GatewaySettings()
    try:
        size = asyncio.run(
            export_workspace(settings.database_url, ObjectStore(settings), args.tenant, args.target)
        )
    except RestoreRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.target} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
