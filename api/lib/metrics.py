"""Prometheus metrics: request rate and latency per route, cache hits and misses.

Each app owns a registry (tests build many apps in one process). ``/metrics`` renders it.
Counts are per process; scrape every worker (or run one worker per container).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The API's instruments, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ripcity_api_requests", "HTTP requests served",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("ripcity_api_request_seconds", "Request latency",
                                 ("method", "route"), buckets=_BUCKETS,
                                 registry=self.registry)
        self.cache = Counter("ripcity_api_cache", "Response cache lookups", ("result",),
                             registry=self.registry)
        self.rate_limited = Counter("ripcity_api_rate_limited", "Requests refused with 429",
                                    registry=self.registry)
        self.product = Counter("ripcity_product_events", "First-party product analytics "
                               "events (searches found / empty, events viewed, buy links "
                               "followed, alert emails opened / followed, saved searches "
                               "and rules created, recommendations followed)", ("kind",),
                               registry=self.registry)
        self._hit = self.cache.labels("hit")
        self._miss = self.cache.labels("miss")

    def cache_hit(self) -> None:
        self._hit.inc()

    def cache_miss(self) -> None:
        self._miss.inc()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware timing every HTTP request by its route template."""
        requests, latency = self.requests, self.latency

        async def _timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def _send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, _send)
            finally:
                route = scope.get("path_template") or "unmatched"
                method = scope.get("method", "GET")
                latency.labels(method, route).observe(time.perf_counter() - start)
                requests.labels(method, route, str(status)).inc()

        return _timed
