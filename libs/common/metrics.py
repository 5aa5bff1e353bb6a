"""Prometheus: every service serves `/metrics` from the default registry, on its HTTP port or (in
production, `ATELIER_METRICS_PORT`) on a port of its own that the public Ingress cannot reach, and
counts its HTTP requests by route template (not raw path, so ids do not explode the labels)."""

from __future__ import annotations

import time
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
# any other method a client makes up is counted as "other", so it cannot add series either
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (`/api/v1/assets/{asset_id}`), never the raw
    path: a label per id would grow /metrics without end. The router leaves the route it matched in the
    scope; a request nothing matched is "unmatched"."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class RequestMetrics:
    """Counts and times each HTTP request by route template, method and status. Plain ASGI (not
    BaseHTTPMiddleware), so streamed request and response bodies pass through untouched."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = route_template(scope)
            method = scope["method"] if route != "unmatched" and scope["method"] in _METHODS else "other"
            HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()
            if route not in _UNTIMED:
                HTTP_SECONDS.labels(self.service, route, method).observe(time.perf_counter() - started)


def add_metrics_route(app: FastAPI, service: str, *, on_own_port: bool = False) -> None:
    """Count the app's requests; serve `/metrics` on the app's port unless the service serves them on a
    port of their own (`ATELIER_METRICS_PORT`, production), which no Service or Ingress exposes."""
    app.add_middleware(RequestMetrics, service=service)
    if on_own_port:
        return

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsServer:
    """`/metrics` on a port of its own, for the scraper only (prometheus_client's server, in a thread)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: WSGIServer | None = None

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, addr=self.host)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
