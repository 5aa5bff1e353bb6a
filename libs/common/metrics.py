"""Prometheus: every service serves `/metrics` from the default registry on its HTTP port,
and counts its HTTP requests by route template (not raw path, so ids do not explode the labels)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.routing import Match

SERVICE_UP = Gauge("atelier_service_up", "1 while the service runs", ["service"])
DEPENDENCY_UP = Gauge("atelier_dependency_up", "1 when the last health check reached the dependency",
                      ["service", "dependency"])  # fmt: skip
HTTP_REQUESTS = Counter(
    "atelier_http_requests_total", "HTTP requests served", ["service", "route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "atelier_http_request_seconds",
    "HTTP request latency",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# streams stay open for minutes: their duration is not a latency
_UNTIMED = {"/metrics", "/api/v1/events"}


def _route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return getattr(route, "path", request.url.path)
    return "unmatched"


class RequestMetrics(BaseHTTPMiddleware):
    def __init__(self, app: object, service: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.service = service

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            HTTP_REQUESTS.labels(self.service, route, request.method, str(status)).inc()
            if route not in _UNTIMED:
                HTTP_SECONDS.labels(self.service, route, request.method).observe(
                    time.perf_counter() - started
                )


def add_metrics_route(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestMetrics, service=service)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
