"""PostgreSQL: one asyncpg pool per service and a small migrations runner.

Each service owns one schema. Its migrations are plain SQL files
`services/<name>/migrations/NNN_description.sql`, applied in order at start-up
after the shared ones in `libs/common/migrations/` (outbox and inbox tables)
(or by `python -m libs.common.db migrate`), each in its own transaction, and
recorded in `<schema>.schema_migrations`. An advisory lock keyed on the schema
makes concurrent replicas wait for the first one instead of racing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns arrive as Python objects and go in from dicts
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)


async def migrate(pool: asyncpg.Pool, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the pending migrations of one schema; returns the names applied."""
    files = [*sorted(COMMON_MIGRATIONS.glob("*.sql")), *sorted(migrations_dir.glob("*.sql"))]
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations '
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch(f'SELECT name FROM "{schema}".schema_migrations')}
            for path in files:
                name = f"{path.parent.parent.name}/{path.name}"  # e.g. common/001_outbox_inbox.sql
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                    await conn.execute(path.read_text())
                    await conn.execute(f'INSERT INTO "{schema}".schema_migrations (name) VALUES ($1)', name)
                applied_now.append(name)
                log.info("migration applied", extra={"schema": schema, "migration": name})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    return applied_now
