"""Recording product analytics from a request: first party, the user id only, nothing for a
request that asks not to be tracked (``DNT: 1`` or ``Sec-GPC: 1``).

Every event also counts in ``/metrics`` (``ripcity_product_events_total{kind}``, no
identity, Do-Not-Track included); the row in PostgreSQL (:mod:`storage.analytics`) is what
the operations page charts. Recording never fails the request it describes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.lib.auth import principal_of
from storage.analytics import record_event

if TYPE_CHECKING:
    from litestar import Request

    from api.lib.runtime import Runtime


def tracking_allowed(request: Request[Any, Any, Any]) -> bool:
    """False when the browser asks not to be tracked (Do-Not-Track, Global Privacy Control)."""
    return request.headers.get("dnt", "").strip() != "1" and \
        request.headers.get("sec-gpc", "").strip() != "1"


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
