"""Prometheus: every service serves `/metrics` from the default registry on its HTTP port."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

SERVICE_UP = Gauge("atelier_service_up", "1 while the service runs", ["service"])


def add_metrics_route(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
