"""Deals: the best-scored current listings, for everyone or for the caller's watchlists."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from api.deals.schemas import Deal, DealPage, EventBrief
from api.lib.cache import ALL_EVENTS_TAG
from api.lib.dates import bounded
from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.pagination import DealCursor, decode_cursor, encode_cursor, next_link
from api.lib.params import (
    Category,
    Cents,
    City,
    Cursor,
    Limit,
    MarketplaceParam,
    Query,
    StartsAfter,
    StartsBefore,
)
from api.listings.schemas import listing_of
from storage.events import EventFilter, watched_event_ids
from storage.listings import DealListing, best_deals

MinScore = Annotated[float | None, Parameter(ge=0, le=100, description="lowest deal score")]


def _page(rows: list[DealListing], limit: int, path: str,
          params: dict[str, Any]) -> DealPage:
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        nxt = encode_cursor(last.deal_score, last.marketplace, last.listing_id)
    items = [Deal(event=EventBrief(id=r.event_id, name=r.event_name, starts_at=r.starts_at,
                                   venue_name=r.venue_name, city=r.city,
                                   category=r.category),
                  listing=listing_of(r)) for r in rows]
    return DealPage(items=items, next_cursor=nxt, next=next_link(path, params, nxt))


def _after(cursor: str | None) -> list[Any] | None:
    after = decode_cursor(cursor, DealCursor)
    return after.values() if after else None


class DealController(Controller):
    path = "/deals"
    tags = ["deals"]

    @get("/", summary="Best current deals, filterable like events")
    async def deals(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep,
        q: Query = None, starts_after: StartsAfter = None, starts_before: StartsBefore = None,
        category: Category = None, city: City = None, marketplace: MarketplaceParam = None,
        max_price: Cents = None, min_score: MinScore = None,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> Response[DealPage]:
        """Listings ordered by deal score (how far the all-in price is below the fair value
        the model estimates), each with the reason and a buy link."""
        after = _after(cursor)
        f = EventFilter(q=q, starts_after=bounded(starts_after, "starts_after"),
                        starts_before=bounded(starts_before, "starts_before"),
                        category=category, city=city, marketplace=marketplace,
                        max_price=max_price)

        async def compute() -> DealPage:
            async with reads.connection() as conn:
                rows = await best_deals(conn, f, min_score, limit, after)
            return _page(rows, limit, "/api/v1/deals", dict(request.query_params))

        assert runtime.cache is not None
        return await runtime.cache.respond(request, compute, tags=(ALL_EVENTS_TAG,), ttl=30)

    @get("/for-me", summary="Best deals in the events your watchlists cover",
         cache_control=None)
    async def for_me(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep, user: UserDep,
        max_price: Cents = None, min_score: MinScore = None,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> DealPage:
        """Deals in watched events, in events of watched performers and at watched venues."""
        after = _after(cursor)
        async with reads.connection() as conn:
            ids = await watched_event_ids(conn, user.user_id)
            rows = await best_deals(conn, EventFilter(max_price=max_price), min_score,
                                    limit, after, event_ids=ids) if ids else []
        return _page(rows, limit, "/api/v1/deals/for-me", dict(request.query_params))
