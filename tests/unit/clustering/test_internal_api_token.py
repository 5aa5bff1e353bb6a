"""Clustering's session-edit routes trust the tenant in the path, so they ask for the service token."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.clustering.app import build
from services.clustering.settings import ClusteringSettings


def test_session_edit_routes_refuse_callers_without_the_service_token() -> None:
    # no lifespan: the token check answers before anything touches the database
    client = TestClient(build(ClusteringSettings(internal_token="s3cret")).app)
    tenant = uuid.uuid4()
    for method, path, body in [
        ("PUT", f"/internal/v1/tenants/{tenant}/rules", {"gap_minutes": 5}),
        ("POST", f"/internal/v1/tenants/{tenant}/sessions/merge", {"session_ids": [str(uuid.uuid4())] * 2}),
        (
            "POST",
            f"/internal/v1/tenants/{tenant}/sessions/{uuid.uuid4()}/split",
            {"asset_id": str(uuid.uuid4())},
        ),
    ]:
        response = client.request(method, path, json=body, headers={"X-Atelier-Internal-Token": "wrong"})
        assert response.status_code == 401, (path, response.text)
