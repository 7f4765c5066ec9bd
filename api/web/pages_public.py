"""Pages anyone can read: search (home), one event, its listings table, the best deals.

Reads call the same storage functions as the REST controllers (``storage.events``,
``storage.listings``, ``storage.history``), plus the ones only pages show: the search cards'
extras and price by section.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.params import Parameter, QueryParameter
from litestar.response import Template

from api.lib.analytics import record
from api.lib.dates import check_bounds
from api.lib.errors import InvalidInput
from api.lib.pagination import EVENT_CURSORS, decode_cursor, event_page
from api.lib.replicas import reads_of
from api.recommendations.service import recommended
from api.valuation.service import valuations
from api.web import chart as chart_mod
from api.web.common import page, runtime_of, viewer
from api.web.fmt import trend
from api.web.forecast import buy_or_wait, from_stored
from storage import events as events_store
from storage import freshness as freshness_store
from storage import listings as listings_store
from storage.events import EventFilter
from storage.forecasts import latest_forecast_async
from storage.valuation import Seat

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from api.valuation.schemas import Valuation

PACIFIC = ZoneInfo("America/Los_Angeles")
Text = Annotated[str | None, Parameter(max_length=100)]
Money = Annotated[float | None, Parameter(ge=0, le=1_000_000)]
Range = Annotated[Literal["24h", "7d", "30d", "all"], QueryParameter()]
Sort = Annotated[Literal["price", "deal"], QueryParameter()]
MARKETS = ("ticketmaster", "seatgeek", "eventbrite", "stubhub")
PAGE = 24


def _day(raw: str | None, field: str, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` form value (blank = no limit) as the start of that day, Pacific;
    a date outside the years we deal in is refused (naming ``field``)."""
    if not raw or not raw.strip():
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a date: pick one in the calendar "
                           "(YYYY-MM-DD).") from None
    check_bounds(value, field)
    return datetime.combine(value + timedelta(days=1 if end else 0), time(0), PACIFIC)


def _cents(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


def _blank(v: str | None) -> str | None:
    return v.strip() or None if v else None


def _num(raw: str | None, name: str, low: float, high: float) -> float | None:
    """A form number (blank = not given), or a clear error naming the field."""
    raw = _blank(raw)
    if raw is None:
        return None
    try:
        value = float(raw.replace("$", "").replace(",", ""))
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number.") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g}.")
    return value


def _choice(raw: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    raw = _blank(raw)
    if raw is not None and raw not in allowed:
        raise InvalidInput(f"{name}={raw!r} is not one of {', '.join(allowed)}.")
    return raw


async def search_cards(conn: AsyncConnection[Any], rows: list[events_store.EventRow]
                       ) -> list[dict[str, Any]]:
    """Search rows with what their cards show: prices per marketplace, best deal, trend."""
    extras = await events_store.card_extras(conn, [r.id for r in rows])
    cards = []
    for r in rows:
        x = extras[r.id]
        cards.append({**dataclasses.asdict(r), "prices": x.prices, "deal": x.deal,
                      "trend": trend(r.get_in_cents, x.then_cents)})
    return cards


async def recommended_cards(conn: AsyncConnection[Any], user_id: int | None
                            ) -> dict[str, Any]:
    """The home page's "Recommended for you" (or, without history, "Popular in <city>")."""
    rows, personal, city = await recommended(conn, user_id, 6)
    return {"items": rows, "personal": personal, "city": city}


class PublicPages(Controller):
    """Search, event, deals: server-rendered, enhanced with htmx where it helps."""

    include_in_schema = False

    @get("/", name="web:home")
    async def home(self, request: Request[Any, Any, Any], q: Text = None,
                   date_from: Annotated[str | None, QueryParameter(name="from", max_length=10)]
                   = None,
                   date_to: Annotated[str | None, QueryParameter(name="to", max_length=10)]
                   = None,
                   category: Text = None, city: Text = None,
                   marketplace: Annotated[str | None, QueryParameter(max_length=20)] = None,
                   max_raw: Annotated[str | None, QueryParameter(name="max", max_length=12)]
                   = None,
                   qty_raw: Annotated[str | None, QueryParameter(name="qty", max_length=4)]
                   = None,
                   score_raw: Annotated[str | None, QueryParameter(name="score", max_length=6)]
                   = None,
                   sort_raw: Annotated[str | None, QueryParameter(name="sort", max_length=10)]
                   = None,
                   cursor: Annotated[str | None, Parameter(max_length=500)] = None) -> Template:
        q, category, city = _blank(q), _blank(category), _blank(city)
        marketplace = _choice(marketplace, MARKETS, "marketplace")
        sort = _choice(sort_raw, ("date", "price", "deal"), "sort") or "date"
        max_price = _num(max_raw, "max", 0, 1_000_000)
        qty_f = _num(qty_raw, "qty", 1, 20)
        qty = None if qty_f is None else int(qty_f)
        score = _num(score_raw, "score", 0, 100)
        f = EventFilter(q=q, starts_after=_day(date_from, "from"),
                        starts_before=_day(date_to, "to", True),
                        category=category, city=city, marketplace=marketplace,
                        max_price=_cents(max_price), quantity=qty, min_deal_score=score)
        cursor_at = decode_cursor(cursor, EVENT_CURSORS[sort])
        after = cursor_at.values() if cursor_at else None
        user = viewer(request)
        async with reads_of(request).connection() as conn:
            rows = await events_store.search_events(conn, f, sort, PAGE, after)
            rows, nxt = event_page(rows, PAGE)
            cards = await search_cards(conn, rows)
            picks: dict[str, Any] = {}
            if after is None and not any((q, category, city, date_from, date_to)):
                picks = await recommended_cards(conn, user.user_id if user else None)
        await record(request, "search" if any((q, category, city, date_from, date_to,
                                                marketplace, max_price, qty, score))
                     else None, results=len(rows), q=q or category or city)
        params = {k: v for k, v in {
            "q": q, "from": date_from, "to": date_to, "category": category, "city": city,
            "marketplace": marketplace, "max": max_price, "qty": qty, "score": score,
            "sort": sort if sort != "date" else None}.items() if v}
        return page(request, "home.html", title="Find tickets", cards=cards, q=q or "",
                    date_from=date_from or "", date_to=date_to or "",
                    category=category or "", city=city or "", marketplace=marketplace or "",
                    max_price=max_price, qty=qty, score=score, sort=sort,
                    next_cursor=nxt, params=params, picks=picks)

    @get("/events/{event_id:int}", name="web:event")
    async def event(self, request: Request[Any, Any, Any],
                    event_id: Annotated[int, Parameter(ge=1, le=2**62)],
                    range: Range = "7d",
                    section: Annotated[str | None, Parameter(max_length=40)] = None,
                    quantity: Annotated[int | None, Parameter(ge=1, le=50)] = None,
                    max_price: Money = None, sort: Sort = "price",
                    via: Annotated[Literal["rec"] | None, QueryParameter(name="from")] = None,
                    ) -> Template:
        runtime = runtime_of(request)
        section = _blank(section)
        async with reads_of(request).connection() as conn:
            ev = await events_store.get_event(conn, event_id)
            listings = await self._listings(conn, event_id, section, quantity, max_price, sort)
            sections = await listings_store.section_prices(conn, event_id)
            stored = await latest_forecast_async(conn, event_id)
            chart = await chart_mod.event_chart(conn, event_id, range, section)
            fresh = await freshness_store.event_freshness(conn, event_id,
                                                          runtime.settings.stale_after_s)
        get_in = min((p.get_in_cents for p in ev.prices if p.get_in_cents), default=None)
        await record(request, "event_view", event_id=event_id)
        if via == "rec":
            await record(request, "recommendation_click", event_id=event_id)
        user = viewer(request)
        # the engine's model when it has a recent forecast, else the chart rule
        forecast = from_stored(stored) or buy_or_wait(chart.get_in, ev.starts_at)
        return page(
            request, "event.html", title=ev.name, ev=ev, get_in=get_in, freshness=fresh,
            trend=trend(get_in, ev.then_cents), chart=chart.as_json(),
            chart_points=chart.points, range=range, ranges=list(chart_mod.RANGES),
            section=section or "", quantity=quantity or "", max_price=max_price or "",
            sort=sort, listings=listings, sections=sections, seatmap=_seatmap(sections),
            forecast=forecast, forecasts_allowed=bool(user and user.plan.forecasts),
            alert_default=max(0, (get_in or 0) - 100))

    @get("/events/{event_id:int}/listings", name="web:listings")
    async def listings_partial(
        self, request: Request[Any, Any, Any],
        event_id: Annotated[int, Parameter(ge=1, le=2**62)],
        section: Annotated[str | None, Parameter(max_length=40)] = None,
        quantity: Annotated[int | None, Parameter(ge=1, le=50)] = None,
        max_price: Money = None, sort: Sort = "price",
    ) -> Template:
        """The listings table alone (htmx swaps it in when filters or sorting change)."""
        section = _blank(section)
        async with reads_of(request).connection() as conn:
            await events_store.require_event(conn, event_id)
            listings = await self._listings(conn, event_id, section, quantity, max_price, sort)
        return page(request, "_listings.html", listings=listings, sort=sort,
                    ev={"id": event_id}, section=section or "", quantity=quantity or "",
                    max_price=max_price or "")

    async def _listings(self, conn: AsyncConnection[Any], event_id: int, section: str | None,
                        quantity: int | None, max_price: float | None,
                        sort: str
                        ) -> list[tuple[listings_store.PagedListing, Valuation | None]]:
        """Up to 100 listings, each with what its seat is worth (one query for the page)."""
        f = listings_store.ListingFilter(section=section, quantity=quantity,
                                         max_price=_cents(max_price))
        rows = (await listings_store.event_listings(conn, event_id, f, sort, 100, None))[:100]
        worth = await valuations(conn, event_id,
                                 [Seat(r.section, r.row, r.quantity) for r in rows])
        return list(zip(rows, worth, strict=True))

    @get("/deals", name="web:deals")
    async def deals(self, request: Request[Any, Any, Any], q: Text = None,
                    city: Text = None, category: Text = None,
                    marketplace: Annotated[Literal["", "ticketmaster", "seatgeek",
                                                   "eventbrite", "stubhub"],
                                           QueryParameter()] = "",
                    max_price: Money = None,
                    min_score: Annotated[float | None, Parameter(ge=0, le=100)] = None
                    ) -> Template:
        q, city, category = _blank(q), _blank(city), _blank(category)
        f = EventFilter(q=q, city=city, category=category, marketplace=marketplace or None,
                        max_price=_cents(max_price))
        async with reads_of(request).connection() as conn:
            rows = await listings_store.best_deals(conn, f, min_score, 60, None)
        return page(request, "deals.html", title="Best deals now", deals=rows[:60],
                    q=q or "", city=city or "", category=category or "",
                    marketplace=marketplace, max_price=max_price or "",
                    min_score=min_score if min_score is not None else "")


def _seatmap(sections: list[listings_store.SectionPrice]) -> list[dict[str, Any]]:
    """Sections grouped by zone, each tinted by how cheap it is relative to the others."""
    prices = [s.min_cents for s in sections if s.min_cents is not None]
    lo, hi = (min(prices), max(prices)) if prices else (0, 0)
    zones: dict[str, list[dict[str, Any]]] = {}
    for s in sections:
        share = 0.0 if hi == lo else (s.min_cents - lo) / (hi - lo)
        tier = min(4, int(share * 5))
        zones.setdefault((s.zone or "Seats").title(), []).append(
            {**dataclasses.asdict(s), "tier": tier})
    return [{"zone": z, "sections": v} for z, v in sorted(
        zones.items(), key=lambda kv: min(s["min_cents"] for s in kv[1]))]

