"""Request figures for ``/metrics``: latency and counts per route template.

The figures are kept per process (prometheus_client's default mode, not its multiprocess
mode): each web process answers ``/metrics`` with its own requests, and Prometheus scrapes
every replica (docs/deployment.md, "Monitoring"). The route is the template a request matched
(``/datasets/{dataset_id}``), never the raw path, so that the number of series stays bounded
whatever addresses clients make up.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The *_created series would double what every scrape sends for a figure nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's request figures; ``/metrics`` adds the figures it reads at each scrape."""

REQUEST_SECONDS = Histogram(
    "miscomp_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["method", "route"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "miscomp_http_requests",
    "Requests answered, by route template, method and status class (2xx, 3xx, 4xx, 5xx).",
    ["method", "route", "status_class"],
    registry=REGISTRY,
)

UNMATCHED = "unmatched"
"""The route label of a request that matched no route (a 404 for a made-up address)."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The template of the route that handled the request (Starlette records it in the scope
    as it routes), or :data:`UNMATCHED`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetricsMiddleware:
    """Pure ASGI: times each HTTP request and counts its answer. Placed outside Starlette's
    error middleware (``app.main.MiscompApp``), so that a 500 is counted as the client got it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = route_label(scope)
            REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
            REQUESTS.labels(method, route, f"{status // 100}xx").inc()
