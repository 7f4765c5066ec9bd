"""Event reads: search, one event with its prices per marketplace, the search cards' extras,
the events a user watches, and an event's marketplace ids for the engine."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row
from storage.errors import Moved, NotFound
from storage.events import _sql

if TYPE_CHECKING:
    import psycopg

    from storage.events.filters import EventFilter


@dataclasses.dataclass(slots=True)
class EventBase:
    """What every event read returns: the event and its venue (None when not known)."""

    id: int
    name: str
    starts_at: datetime | None
    category: str | None
    performers: list[str] | None
    status: str
    venue_id: int | None
    venue_name: str | None
    venue_city: str | None
    venue_timezone: str | None


@dataclasses.dataclass(slots=True)
class EventRow(EventBase):
    """An event as search lists it, with its live get-in price and the page's sort key."""

    get_in_cents: int | None
    listing_count: int
    best_deal_score: float | None
    marketplaces: list[str]
    #: the value the page is ordered by (start time, get-in cents or negated deal score)
    sort_key: datetime | int | float


@dataclasses.dataclass(frozen=True, slots=True)
class SourceLink:
    """The event on one marketplace."""

    marketplace: str
    source_event_id: str
    url: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class MarketplaceGetIn:
    """The cheapest all-in ticket on one marketplace now, and how many listings it has."""

    marketplace: str
    get_in_cents: int | None
    listing_count: int


@dataclasses.dataclass(slots=True)
class EventDetail(EventBase):
    """One event with its venue, marketplace links, prices now and get-in 24 hours ago."""

    timezone: str | None
    links: list[SourceLink] = dataclasses.field(default_factory=list)
    prices: list[MarketplaceGetIn] = dataclasses.field(default_factory=list)
    then_cents: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CardDeal:
    """The best-scored live listing of an event."""

    event_id: int
    marketplace: str
    section: str | None
    row: str | None
    quantity: int
    total_cents: int
    deal_score: float
    deal_reason: str | None


@dataclasses.dataclass(slots=True)
class CardExtras:
    """What a search card shows beyond the event: get-in per marketplace, best deal, trend."""

    #: marketplace -> cheapest all-in cents, in marketplace order
    prices: dict[str, int] = dataclasses.field(default_factory=dict)
    deal: CardDeal | None = None
    #: get-in 24 h ago (from the alert matcher's history, else its oldest of the last 24 h)
    then_cents: int | None = None


async def _no_event(conn: psycopg.AsyncConnection[Any], event_id: int) -> NotFound:
    """Not found, or ``Moved`` when the event was merged into another (its id redirects)."""
    from storage.events.merge import resolve_event_id_async

    target = await resolve_event_id_async(conn, event_id)
    if target is not None:
        return Moved(f"Event {event_id} was merged into event {target} (the same event on "
                     f"another marketplace); use event {target}.", new_id=target)
    return NotFound(f"There is no event {event_id}; find event ids with "
                    "GET /api/v1/events?q=<performer, team, venue or city>.")


async def search_events(conn: psycopg.AsyncConnection[Any], f: EventFilter, sort: str,
                        limit: int, after: list[Any] | None) -> list[EventRow]:
    """One page of events sorted by ``sort`` ("date", "price", "deal"), after the cursor
    ``after`` (``[sort_key, id]``); ``limit + 1`` rows tell whether a next page exists."""
    query, params = _sql.search(f, sort, limit, after)
    async with conn.cursor(row_factory=record_row(EventRow)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def get_event(conn: psycopg.AsyncConnection[Any], event_id: int) -> EventDetail:
    """The event, or ``NotFound``."""
    async with conn.cursor(row_factory=record_row(EventDetail)) as cur:
        await cur.execute(_sql.EVENT, (event_id,))
        event = await cur.fetchone()
    if event is None:
        raise await _no_event(conn, event_id)
    async with conn.cursor(row_factory=record_row(SourceLink)) as cur:
        await cur.execute(_sql.LINKS, (event_id,))
        event.links = await cur.fetchall()
    async with conn.cursor(row_factory=record_row(MarketplaceGetIn)) as cur:
        await cur.execute(_sql.PRICES, (event_id,))
        event.prices = await cur.fetchall()
    then = await (await conn.execute(_sql.GET_IN_24H_AGO, {"id": event_id})).fetchone()
    event.then_cents = then[0] if then else None
    return event


async def require_event(conn: psycopg.AsyncConnection[Any], event_id: int) -> None:
    """Raise ``NotFound`` unless the event exists."""
    cur = await conn.execute(_sql.EXISTS, (event_id,))
    if await cur.fetchone() is None:
        raise await _no_event(conn, event_id)


async def card_extras(conn: psycopg.AsyncConnection[Any], event_ids: list[int]
                      ) -> dict[int, CardExtras]:
    """The extras of a page of search cards, one statement each for the whole page."""
    out = {i: CardExtras() for i in event_ids}
    if not event_ids:
        return out
    params = {"ids": event_ids}
    cur = await conn.execute(_sql.CARD_PRICES, params)
    for event_id, marketplace, cents in await cur.fetchall():
        out[event_id].prices[marketplace] = cents
    async with conn.cursor(row_factory=record_row(CardDeal)) as deals:
        await deals.execute(_sql.CARD_DEALS, params)
        for deal in await deals.fetchall():
            out[deal.event_id].deal = deal
    cur = await conn.execute(_sql.CARD_THEN, params)
    for event_id, then_cents in await cur.fetchall():
        out[event_id].then_cents = then_cents
    return out


async def watched_event_ids(conn: psycopg.AsyncConnection[Any], user_id: int) -> list[int]:
    """Upcoming events the user's watchlists cover (events, performers' and venues' events)."""
    cur = await conn.execute(_sql.WATCHED, (user_id,))
    return [r[0] for r in await cur.fetchall()]


def source_ids(conn: psycopg.Connection, event_id: int,
               marketplace: str | None = None) -> list[tuple[str, str]]:
    """``(marketplace, source_event_id)`` of the event (on one marketplace, or on all)."""
    rows = conn.execute(_sql.SOURCE_IDS, {"event": event_id, "mk": marketplace}).fetchall()
    return [(mk, sid) for mk, sid in rows]


async def buy_url(conn: psycopg.AsyncConnection[Any], event_id: int,
                  marketplace: str) -> str | None:
    """The event's page on ``marketplace`` (where its tickets are bought), if known."""
    row = await (await conn.execute(_sql.BUY_URL, (event_id, marketplace))).fetchone()
    return str(row[0]) if row else None
