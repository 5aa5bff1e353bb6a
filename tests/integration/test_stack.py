"""LocalInfra starts a real broker, S3 server and database, and stop() takes them all away again."""

from __future__ import annotations

import io
import os
import socket
import uuid
from pathlib import Path

import asyncpg
import minio
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from libs.stack import LocalInfra
from libs.stack.processes import StartupError
from libs.stack.tansu import Tansu

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _database_exists(server_url: str, name: str) -> bool:
    connection = await asyncpg.connect(server_url)
    try:
        return bool(await connection.fetchval("select 1 from pg_database where datname = $1", name))
    finally:
        await connection.close()


async def test_local_infra_serves_kafka_s3_and_postgres_then_stops_cleanly(tmp_path: Path) -> None:
    local_infra = LocalInfra(tmp_path, ports="free")
    infra = local_infra.start()
    try:
        pids = local_infra.child_pids
        assert set(pids) == {"seaweedfs", "tansu"}
        server_url = local_infra.server_database_url
        database = local_infra.database_name
        assert server_url is not None
        assert database is not None and database.startswith("atelier_test_")
        assert infra.env()["ATELIER_KAFKA_BOOTSTRAP"] == infra.kafka_bootstrap

        # Kafka: one message through a new topic
        topic = f"stack-test-{uuid.uuid4().hex[:8]}"
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello", key=b"k1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=f"{topic}-group",
            auto_offset_reset="earliest",
            # Tansu holds a group join for session_timeout/2: keep it short in tests
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
        )
        await consumer.start()
        try:
            message = await consumer.getone()
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"k1", b"hello")

        # S3: put and get one object with the keys the services will use
        s3 = minio.Minio(
            infra.s3_endpoint,
            access_key=infra.s3_access_key,
            secret_key=infra.s3_secret_key,
            region=infra.s3_region,
            secure=False,
        )
        s3.make_bucket("stack-test")
        s3.put_object("stack-test", "greeting.txt", io.BytesIO(b"hi there"), length=8)
        response = s3.get_object("stack-test", "greeting.txt")
        try:
            assert response.read() == b"hi there"
        finally:
            response.close()
            response.release_conn()

        # PostgreSQL: the fresh database is the one we are connected to
        connection = await asyncpg.connect(infra.database_url)
        try:
            assert await connection.fetchval("select 1") == 1
            assert await connection.fetchval("select current_database()") == database
        finally:
            await connection.close()
        assert await _database_exists(server_url, database)
    finally:
        local_infra.stop()

    assert not await _database_exists(server_url, database)
    assert not any(_process_exists(pid) for pid in pids.values())
    assert not _accepts_connections(_port_of(infra.kafka_bootstrap))
    assert not _accepts_connections(_port_of(infra.s3_endpoint))


async def test_a_failed_start_tears_down_what_had_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A "broker" that exits at once: PostgreSQL and SeaweedFS are up by the time it fails.
    monkeypatch.setenv("CALF_TANSU_BIN", "/bin/false")
    local_infra = LocalInfra(tmp_path, ports="free")
    seen_before_the_broker: dict[str, str | int | None] = {}
    start_tansu = local_infra._start_tansu

    def note_what_runs_then_start_tansu() -> Tansu:
        seen_before_the_broker["server_url"] = local_infra.server_database_url
        seen_before_the_broker["database"] = local_infra.database_name
        seen_before_the_broker["seaweedfs_pid"] = local_infra.child_pids["seaweedfs"]
        return start_tansu()

    monkeypatch.setattr(local_infra, "_start_tansu", note_what_runs_then_start_tansu)
    with pytest.raises(StartupError, match="tansu exited"):
        local_infra.start()

    server_url, database, seaweedfs_pid = seen_before_the_broker.values()
    assert isinstance(server_url, str) and isinstance(database, str) and isinstance(seaweedfs_pid, int)
    assert not await _database_exists(server_url, database)
    assert not _process_exists(seaweedfs_pid)
    local_infra.stop()  # stopping again is harmless
