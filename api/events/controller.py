"""Events: search, one event with its prices, and refresh requests for the engine."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.events.schemas import (
    EventDetail,
    EventPage,
    EventSummary,
    MarketplaceFreshness,
    MarketplaceLink,
    MarketplacePrice,
    PriceTrend,
    RefreshRequest,
    Venue,
)
from api.lib.cache import ALL_EVENTS_TAG, event_tag
from api.lib.dates import bounded
from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.errors import InvalidInput, PlanLimit
from api.lib.pagination import EVENT_CURSORS, decode_cursor, event_page, next_link
from api.lib.params import (
    Category,
    Cents,
    City,
    Cursor,
    EventId,
    Limit,
    MarketplaceParam,
    Query,
    StartsAfter,
    StartsBefore,
)
from storage import events as store
from storage import freshness as freshness_store
from storage import refresh as refresh_store
from storage.events import EventFilter

V1 = "/api/v1"


def _venue(row: store.EventBase) -> Venue | None:
    if row.venue_id is None:
        return None
    assert row.venue_name is not None
    return Venue(id=row.venue_id, name=row.venue_name, city=row.venue_city,
                 timezone=row.venue_timezone)


def _summary(row: store.EventRow) -> EventSummary:
    return EventSummary(
        id=row.id, name=row.name, starts_at=row.starts_at, category=row.category,
        performers=list(row.performers or []), status=row.status, venue=_venue(row),
        get_in_cents=row.get_in_cents, listing_count=int(row.listing_count),
        best_deal_score=row.best_deal_score, marketplaces=list(row.marketplaces or []),
        url=f"{V1}/events/{row.id}")


def _detail(row: store.EventDetail, fresh: list[freshness_store.Freshness]) -> EventDetail:
    prices = [MarketplacePrice(marketplace=p.marketplace, get_in_cents=p.get_in_cents,
                               listing_count=p.listing_count) for p in row.prices]
    get_in = min((p.get_in_cents for p in prices if p.get_in_cents is not None), default=None)
    return EventDetail(
        id=row.id, name=row.name, starts_at=row.starts_at, category=row.category,
        performers=list(row.performers or []), status=row.status, timezone=row.timezone,
        venue=_venue(row), get_in_cents=get_in,
        listing_count=sum(p.listing_count for p in prices),
        links=[MarketplaceLink(marketplace=li.marketplace, source_event_id=li.source_event_id,
                               url=li.url) for li in row.links],
        prices=prices, trend=_trend(get_in, row.then_cents),
        freshness=[MarketplaceFreshness(
            marketplace=f.marketplace, fresh_as_of=f.fresh_as_of, age_seconds=f.age_seconds,
            stale=f.stale, marketplace_failing=f.marketplace_failing) for f in fresh],
        listings_url=f"{V1}/events/{row.id}/listings",
        history_url=f"{V1}/events/{row.id}/history",
        refresh_url=f"{V1}/events/{row.id}/refresh")


def _trend(now: int | None, then: int | None) -> PriceTrend:
    if now is None or then is None or then == 0:
        return PriceTrend(direction="unknown", hours=24, get_in_cents_then=then,
                          change_cents=None, change_percent=None)
    change = now - then
    direction: Literal["up", "down", "flat"] = "flat" if change == 0 else (
        "up" if change > 0 else "down")
    return PriceTrend(direction=direction, hours=24, get_in_cents_then=then,
                      change_cents=change, change_percent=round(100.0 * change / then, 2))


def _refresh(row: refresh_store.RefreshRow) -> RefreshRequest:
    return RefreshRequest(id=row.id, event_id=row.event_id, status=row.status,
                          requested_at=row.requested_at, claimed_at=row.claimed_at,
                          finished_at=row.finished_at, error=row.error,
                          poll_url=f"{V1}/refresh-requests/{row.id}")


class EventController(Controller):
    """Search events and read one event."""

    path = "/events"
    tags = ["events"]

    @get("/", summary="Search events", response_description="a page of events")
    async def search(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep,
        q: Query = None, starts_after: StartsAfter = None, starts_before: StartsBefore = None,
        category: Category = None, city: City = None,
        venue_id: Annotated[int | None, Parameter(ge=1, le=2**62)] = None,
        marketplace: MarketplaceParam = None, min_price: Cents = None, max_price: Cents = None,
        quantity: Annotated[int | None, Parameter(
            ge=1, le=20, description="a live listing of at least this many tickets together")]
        = None,
        min_deal_score: Annotated[float | None, Parameter(
            ge=0, le=100, description="a live listing scored at least this")] = None,
        sort: Annotated[Literal["date", "price", "deal"],
                        Parameter(description="date, get-in price, or best deal")] = "date",
        limit: Limit = 50, cursor: Cursor = None,
    ) -> Response[EventPage]:
        """Search by text (performer, team, venue, city), dates, category, price, marketplace.

        Each event carries its current get-in price (cheapest all-in ticket), listing count
        and best deal score. Cached; invalidated when listings are ingested.
        """
        starts_after = bounded(starts_after, "starts_after")
        starts_before = bounded(starts_before, "starts_before")
        if starts_after and starts_before and starts_after >= starts_before:
            raise InvalidInput("starts_after must be earlier than starts_before")
        if min_price is not None and max_price is not None and min_price > max_price:
            raise InvalidInput("min_price must not exceed max_price")
        cursor_at = decode_cursor(cursor, EVENT_CURSORS[sort])
        after = cursor_at.values() if cursor_at else None
        f = EventFilter(q=q, starts_after=starts_after, starts_before=starts_before,
                        category=category, city=city, venue_id=venue_id,
                        marketplace=marketplace, min_price=min_price, max_price=max_price,
                        quantity=quantity, min_deal_score=min_deal_score)

        async def compute() -> EventPage:
            async with reads.connection() as conn:
                rows = await store.search_events(conn, f, sort, limit, after)
            rows, nxt = event_page(rows, limit)
            params = dict(request.query_params)
            return EventPage(items=[_summary(r) for r in rows], next_cursor=nxt,
                             next=next_link(f"{V1}/events", params, nxt))

        assert runtime.cache is not None
        return await runtime.cache.respond(request, compute, tags=(ALL_EVENTS_TAG,), ttl=30,
                                           count=lambda page: len(page.items))

    @get("/{event_id:int}", summary="One event: venue, marketplace links, prices, trend")
    async def detail(self, request: Request[Any, Any, Any], runtime: RuntimeDep, reads: ReadsDep,
                     event_id: EventId) -> Response[EventDetail]:
        """An event with its venue, a link per marketplace, the get-in price and listing count
        per marketplace, the 24-hour get-in price trend, and per marketplace how fresh the
        prices are (`fresh_as_of`: the last complete crawl; `stale`)."""

        async def compute() -> EventDetail:
            async with reads.connection() as conn:
                row = await store.get_event(conn, event_id)
                fresh = await freshness_store.event_freshness(
                    conn, event_id, runtime.settings.stale_after_s)
                return _detail(row, fresh)

        assert runtime.cache is not None
        return await runtime.cache.respond(request, compute, tags=(event_tag(event_id),),
                                           ttl=120)

    @post("/{event_id:int}/refresh", status_code=202,
          summary="Ask the engine to crawl this event now (poll the returned URL)")
    async def refresh(self, event_id: EventId, user: UserDep,
                      runtime: RuntimeDep) -> Response[RefreshRequest]:
        """Queues a crawl of the event for the engine (the API never crawls). Repeated
        requests while one is still pending return the pending one."""
        async with runtime.pool.connection() as conn:
            await store.require_event(conn, event_id)
            used = await refresh_store.count_recent_refreshes(conn, user.user_id)
            if used >= user.plan.refreshes_per_hour:
                raise PlanLimit(
                    f"The {user.plan.name} plan allows {user.plan.refreshes_per_hour} refresh "
                    "requests per hour and you used them; the engine still re-crawls watched "
                    "events on its own cadence. Try again later or upgrade to premium.")
            row, _ = await refresh_store.request_refresh(conn, event_id, user.user_id)
        body = _refresh(row)
        return Response(body, status_code=202,
                        headers={"Location": body.poll_url, "Retry-After": "5"})


class RefreshController(Controller):
    path = "/refresh-requests"
    tags = ["events"]

    @get("/{request_id:int}", summary="Status of a refresh request")
    async def status(self, runtime: RuntimeDep, reads: ReadsDep,
                     request_id: Annotated[int, Parameter(ge=1, le=2**62)]) -> RefreshRequest:
        async with reads.connection() as conn:
            return _refresh(await refresh_store.get_refresh(conn, request_id))
