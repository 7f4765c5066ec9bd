"""Listings of one event: filter by section, zone, rows, quantity, price, marketplace."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from api.lib.cache import event_tag
from api.lib.deps import ReadsDep, RuntimeDep
from api.lib.pagination import LISTING_CURSORS, decode_cursor, encode_cursor, next_link
from api.lib.params import Cents, Cursor, EventId, Limit, MarketplaceParam
from api.listings.schemas import ListingPage, listing_of
from api.valuation.service import valuations
from storage import events as events_store
from storage import listings as store
from storage.valuation import Seat

Text = Annotated[str | None, Parameter(min_length=1, max_length=40)]


class ListingController(Controller):
    path = "/events/{event_id:int}/listings"
    tags = ["listings"]

    @get("/", summary="Current listings of an event")
    async def listings(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep,
        event_id: EventId,
        section: Annotated[str | None, Parameter(
            min_length=1, max_length=40, description='section, e.g. "112", "FLOOR"')] = None,
        zone: Text = None,
        row_from: Annotated[str | None, Parameter(
            min_length=1, max_length=8, description="first row (numbers or letters)")] = None,
        row_to: Annotated[str | None, Parameter(min_length=1, max_length=8,
                                                description="last row, inclusive")] = None,
        quantity: Annotated[int | None, Parameter(ge=1, le=50, description=(
            "tickets wanted together: only listings that can sell exactly this many "
            "(quantity and allowed splits)"))] = None,
        max_price: Cents = None, marketplace: MarketplaceParam = None,
        sort: Annotated[Literal["price", "deal"], Parameter(
            description="all-in price ascending, or deal score descending")] = "price",
        limit: Limit = 50, cursor: Cursor = None,
    ) -> Response[ListingPage]:
        """Each listing carries its all-in price, deal score and reason, a buy link, and
        what the seat is worth: the fair price, its interval and the factors that moved it
        ("Section 112 is 18 % above the venue's median section; row 3 +9 %")."""
        cursor_at = decode_cursor(cursor, LISTING_CURSORS[sort])
        after = cursor_at.values() if cursor_at else None
        f = store.ListingFilter(section=section, zone=zone, row_from=row_from, row_to=row_to,
                                quantity=quantity, max_price=max_price, marketplace=marketplace)

        async def compute() -> ListingPage:
            async with reads.connection() as conn:
                rows = await store.event_listings(conn, event_id, f, sort, limit, after)
                if not rows and after is None:
                    await events_store.require_event(conn, event_id)
                worth = await valuations(conn, event_id, [Seat(r.section, r.row, r.quantity)
                                                          for r in rows[:limit]])
            nxt = None
            if len(rows) > limit:
                rows = rows[:limit]
                last = rows[-1]
                nxt = encode_cursor(last.sort_key, last.marketplace, last.listing_id)
            return ListingPage(
                items=[listing_of(r, v) for r, v in zip(rows, worth, strict=True)],
                next_cursor=nxt,
                next=next_link(f"/api/v1/events/{event_id}/listings",
                               dict(request.query_params), nxt))

        assert runtime.cache is not None
        return await runtime.cache.respond(request, compute, tags=(event_tag(event_id),),
                                           ttl=120, max_age=5)
