"""HTTP metrics are labelled by route template: a stream of new ids, made-up methods or unknown paths
(even refused ones) adds no series to /metrics."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.gateway.app import build


def _series() -> set[tuple[str, ...]]:
    return {
        tuple(sorted(sample.labels.items()))  # type: ignore[arg-type]
        for metric in REGISTRY.collect()
        if metric.name.startswith("atelier_http_request")
        for sample in metric.samples
    }


def _request_all(client: TestClient) -> None:
    asset, session = uuid.uuid4(), uuid.uuid4()
    client.get(f"/api/v1/assets/{asset}")
    client.get(f"/api/v1/assets/{asset}/thumbnail")
    client.get(f"/api/v1/sessions/{session}")
    client.get(f"/api/v1/sessions/not-a-uuid-{uuid.uuid4().hex}")
    client.get(f"/no/such/page/{uuid.uuid4().hex}")
    client.request(f"X{uuid.uuid4().hex[:6].upper()}", f"/api/v1/sessions/{session}")


def test_new_ids_add_no_series() -> None:
    client = TestClient(build().app)  # no lifespan: every /api/v1 call is refused with 401 before any I/O
    _request_all(client)
    before = _series()
    for _ in range(20):
        _request_all(client)
    assert _series() == before
    routes = {dict(labels).get("route") for labels in before}
    assert {"/api/v1/assets/{asset_id}", "/api/v1/assets/{asset_id}/thumbnail",
            "/api/v1/sessions/{session_id}", "unmatched"} <= routes  # fmt: skip
    assert not any(r and r.count("-") >= 4 for r in routes), routes  # no raw uuid in a label


def test_metrics_on_their_own_port_are_not_on_the_public_one() -> None:
    import urllib.request

    from libs.common.metrics import MetricsServer
    from libs.stack.processes import free_ports
    from services.gateway.settings import GatewaySettings

    (port,) = free_ports(1)
    client = TestClient(build(GatewaySettings(metrics_port=port)).app)
    assert client.get("/metrics").status_code == 404
    server = MetricsServer("127.0.0.1", port)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"atelier_http_requests_total" in response.read()
    finally:
        server.stop()
