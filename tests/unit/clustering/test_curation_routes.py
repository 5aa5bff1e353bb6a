"""Clustering's curation routes (flags, stack edits) trust the tenant in the path, so they ask for the
service token, like the session edits."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.clustering.app import build
from services.clustering.settings import ClusteringSettings


def test_curation_routes_refuse_callers_without_the_service_token() -> None:
    # no lifespan: the token check answers before anything touches the database
    client = TestClient(build(ClusteringSettings(internal_token="s3cret")).app)
    base = f"/internal/v1/tenants/{uuid.uuid4()}"
    session, stack, asset = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    routes = [
        ("PUT", f"{base}/assets/{asset}/flag", {"flag": "pick"}),
        ("POST", f"{base}/sessions/{session}/stacks", {"asset_ids": [str(asset), str(uuid.uuid4())]}),
        ("DELETE", f"{base}/sessions/{session}/stacks/{stack}", None),
        ("DELETE", f"{base}/sessions/{session}/stacks/{stack}/assets/{asset}", None),
    ]
    for method, path, body in routes:
        for headers in ({}, {"X-Atelier-Internal-Token": "wrong"}):
            # 401, not 404 or 405: the route exists, and its token check answers first
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
