"""First-party tracking links: a buy link followed from the dashboard, an alert email opened
(a 1x1 GIF) or followed (a redirect), each recorded (:mod:`api.lib.analytics`) before the
reader goes on to the marketplace.

Redirects only go to a marketplace page stored for the event (``event_sources.url``), never
to an address taken from the link, so these are not open redirects.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import Redirect

from api.lib.analytics import record
from api.lib.errors import NotFound
from api.web.common import runtime_of
from storage import analytics
from storage import events as events_store

Market = Annotated[str, Parameter(pattern="^(ticketmaster|seatgeek|eventbrite|stubhub)$")]
Key = Annotated[str, Parameter(max_length=200)]
_GIF = base64.b64decode(b"R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


async def _to_marketplace(request: Request[Any, Any, Any], event_id: int, marketplace: str,
                          kind: str, ref: str | None = None,
                          user_id: int | None = None) -> Redirect:
    async with runtime_of(request).pool.connection() as conn:
        url = await events_store.buy_url(conn, event_id, marketplace)
    await record(request, kind, event_id=event_id, ref=ref, user_id=user_id)
    if url is None:  # no marketplace page stored: the event's own page
        return Redirect(f"/events/{event_id}", status_code=303)
    return Redirect(url, status_code=303)


class TrackingPages(Controller):
    include_in_schema = False

    @get("/go/{event_id:int}/{marketplace:str}", name="web:buy")
    async def buy(self, request: Request[Any, Any, Any],
                  event_id: Annotated[int, Parameter(ge=1, le=2**62)],
                  marketplace: Market) -> Redirect:
        """A buy link on the dashboard: counted, then on to the marketplace."""
        return await _to_marketplace(request, event_id, marketplace, "buy_click")

    @get("/t/{key:str}/open.gif", name="web:alert-open")
    async def opened(self, request: Request[Any, Any, Any], key: Key) -> Response[bytes]:
        """The alert email's tracking pixel (its idempotency key names the message)."""
        async with runtime_of(request).pool.connection() as conn:
            uid = await analytics.alert_recipient(conn, key)
        if uid is not None:
            await record(request, "alert_open", ref=key, user_id=uid)
        return Response(_GIF, media_type="image/gif",
                        headers={"Cache-Control": "no-store, private"})

    @get("/t/{key:str}/go", name="web:alert-go")
    async def followed(self, request: Request[Any, Any, Any], key: Key,
                       e: Annotated[int, Parameter(ge=1, le=2**62)],
                       m: Market) -> Redirect:
        """A buy link in an alert email: counted as followed (and opened), then on to the
        marketplace."""
        async with runtime_of(request).pool.connection() as conn:
            uid = await analytics.alert_recipient(conn, key)
        if uid is None:
            raise NotFound("That alert link is not one we sent; search for the event instead.")
        await record(request, "alert_open", ref=key, user_id=uid)
        return await _to_marketplace(request, e, m, "alert_click", ref=key, user_id=uid)
