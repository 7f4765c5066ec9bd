"""Recording product analytics from a request: first party, the user id only, nothing for a
request that asks not to be tracked (``DNT: 1`` or ``Sec-GPC: 1``).

Every event also counts in ``/metrics`` (``ripcity_product_events_total{kind}``, no
identity, Do-Not-Track included); the row in PostgreSQL (:mod:`storage.analytics`) is what
the operations page charts. Recording never fails the request it describes.

REST searches (``GET /api/v1/events`` with a filter; a next page is the same search) are
recorded after their response by :func:`search_analytics_middleware`, hits of the response
cache included (the cache notes how many events the page lists), and written in batches by
:class:`~api.lib.product_log.ProductLog`'s background task, so the cached path does no
database write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from api.lib.auth import principal_of
from api.lib.cache import RESULT_COUNT
from storage.analytics import ProductEvent, record_event

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from api.lib.runtime import Runtime

#: the REST search (``/api/v1/events``) and what makes a request a search, not a listing
SEARCH_PATHS = frozenset({"/api/v1/events", "/api/v1/events/"})
SEARCH_FILTERS = frozenset({"q", "category", "city", "venue_id", "marketplace",
                            "starts_after", "starts_before", "min_price", "max_price",
                            "quantity", "min_deal_score"})


def _refuses(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name in (b"dnt", b"sec-gpc") and value.strip() == b"1"
               for name, value in headers)


def tracking_allowed(request: Request[Any, Any, Any]) -> bool:
    """False when the browser asks not to be tracked (Do-Not-Track, Global Privacy Control)."""
    return request.headers.get("dnt", "").strip() != "1" and \
        request.headers.get("sec-gpc", "").strip() != "1"


def note_search(runtime: Runtime, scope: Scope) -> None:
    """Count the answered REST search of ``scope`` and queue its row (unless the caller
    refuses tracking); not a search: no filter, a next page, or no count noted."""
    state = scope.get("state") or {}
    results = state.get(RESULT_COUNT)
    if results is None:
        return
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if "cursor" in params or not any(params.get(k, "").strip() for k in SEARCH_FILTERS):
        return
    runtime.metrics.product.labels("search_empty" if results == 0 else "search_found").inc()
    if _refuses(scope["headers"]):
        return
    who = state.get("principal")
    q = params.get("q") or params.get("category") or params.get("city")
    runtime.product_log.add(ProductEvent("search", user_id=who.user_id if who else None,
                                         q=q.strip() if q else None, results=results))


def search_analytics_middleware(runtime: Runtime):  # type: ignore[no-untyped-def]
    """Build the middleware that records REST searches after they are answered (200 or
    304, from the handler or the response cache); outside the rate limit's middleware,
    which answers cache hits itself."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"] not in SEARCH_PATHS \
                    or scope["method"] != "GET":
                await app(scope, receive, send)
                return
            status = 0

            async def _send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await app(scope, receive, _send)
            if status in (200, 304):
                note_search(runtime, scope)

        return middleware

    return factory


async def record(request: Request[Any, Any, Any], kind: str | None, *,
                 event_id: int | None = None, q: str | None = None,
                 results: int | None = None, ref: str | None = None,
                 user_id: int | None = None) -> None:
    """Count ``kind`` (None: nothing to record) and, unless tracking is refused, store it
    with the caller's user id (or ``user_id`` when the caller is a link in an email)."""
    if kind is None:
        return
    runtime: Runtime = request.app.state.runtime
    label = kind if kind != "search" else ("search_empty" if results == 0 else "search_found")
    runtime.metrics.product.labels(label).inc()
    if not tracking_allowed(request):
        return
    who = principal_of(request)
    uid = who.user_id if who is not None else user_id
    async with runtime.pool.connection() as conn:
        await record_event(conn, kind, user_id=uid, event_id=event_id, q=q, results=results,
                           ref=ref)
