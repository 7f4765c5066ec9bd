"""Listing reads: an event's current listings, the best deals, price by section; and the
notification every write to ``listings_current`` sends.

Migration 0100 makes each write to ``listings_current`` send
``NOTIFY ripcity_listings, '<event ids>'``: :func:`listen_for_changes` subscribes a
connection and :func:`changed_event_ids` reads a payload.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row
from storage.events.filters import EventFilter, event_conditions

if TYPE_CHECKING:
    import psycopg

#: the channel writes to ``listings_current`` notify (payload: comma-separated event ids)
LISTINGS_CHANNEL = "ripcity_listings"

_COLS = """c.marketplace, c.listing_id, c.event_id, c.section, c."row", c.seats,
    c.quantity, c.splits, c.price_cents, c.fees_cents, c.total_cents, c.currency, c.delivery,
    c.kind, c.zone, c.deal_score, c.deal_rank, c.deal_reason, c.fair_value_cents,
    c.first_seen, c.last_changed"""
#: the newest link to the listing's event on its marketplace, for listing alias ``{t}``
_BUY_URL = """(SELECT es.url FROM event_sources es WHERE es.event_id = {t}.event_id
       AND es.marketplace = {t}.marketplace ORDER BY es.last_seen_at DESC LIMIT 1) AS buy_url"""

# Rows sort as numbers when numeric ("2" < "10"), else by length then text ("Z" < "AA").
_ROW_KEY = """(CASE WHEN c."row" ~ '^[0-9]{1,6}$' THEN lpad(c."row", 8, '0')
               ELSE 'x' || lpad(upper(c."row"), 8, ' ') END)"""

@dataclasses.dataclass(frozen=True, slots=True)
class _Order:
    """One ordered run of an event's listings: its sort key (``sort_key``, what cursors
    hold), the rows it covers, the ORDER BY that follows an index, and a redundant bound on
    the key's column that lets the index scan start at a cursor."""

    key: str
    key_type: str
    where: str | None
    order_by: str
    start: str | None = None  # ... AND <start> (the cursor's key as %(c_key)s)


#: sort name -> its runs, read in turn until a page is full. By deal: the scored listings
#: best first (the per-event deals index, whose order the key follows), then the unscored
#: ones (key 1,000,000, after every score) — one key order, ``-coalesce(score, -1e6)``.
_SORTS: dict[str, tuple[_Order, ...]] = {
    "price": (_Order("c.total_cents", "bigint", None,
                     "c.total_cents, c.marketplace, c.listing_id"),),
    "deal": (_Order("-c.deal_score::float8", "float8", "c.deal_score IS NOT NULL",
                    "c.deal_score DESC, c.marketplace, c.listing_id",
                    "c.deal_score <= -%(c_key)s::float8"),
             _Order("1000000::float8", "float8", "c.deal_score IS NULL",
                    "c.marketplace, c.listing_id")),
}

_SECTION_PRICES = """
SELECT coalesce(section, '?') AS section, max(zone) AS zone,
       min(total_cents) AS min_cents, count(*) AS listings, sum(quantity) AS tickets,
       max(deal_score) AS best_score
FROM listings_current WHERE event_id = %s AND gone_at IS NULL
GROUP BY 1 ORDER BY 1
"""


@dataclasses.dataclass(frozen=True, slots=True)
class CurrentListing:
    """A live listing as it is now, with its deal score and a link to buy it."""

    marketplace: str
    listing_id: str
    event_id: int
    section: str | None
    row: str | None
    seats: str | None
    quantity: int
    #: allowed split sizes as the marketplace wrote them ("2,4"), None = any
    splits: str | None
    price_cents: int
    fees_cents: int | None
    total_cents: int
    currency: str | None
    delivery: str | None
    kind: str | None
    zone: str | None
    deal_score: float | None
    deal_rank: int | None
    deal_reason: str | None
    fair_value_cents: int | None
    first_seen: datetime
    last_changed: datetime
    buy_url: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PagedListing(CurrentListing):
    """A listing of one page, with the value the page is ordered by (the cursor)."""

    sort_key: int | float


@dataclasses.dataclass(frozen=True, slots=True)
class DealListing(CurrentListing):
    """A scored listing with the event it is for."""

    event_name: str
    starts_at: datetime | None
    category: str | None
    venue_name: str | None
    city: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class SectionPrice:
    """Cheapest all-in ticket, listings and tickets of one section of an event."""

    section: str
    zone: str | None
    min_cents: int
    listings: int
    tickets: int
    best_score: float | None


@dataclasses.dataclass(slots=True)
class ListingFilter:
    """What the listings of one event can be narrowed by."""

    section: str | None = None
    zone: str | None = None
    row_from: str | None = None
    row_to: str | None = None
    #: tickets wanted together: the quantity and the allowed splits must permit it
    quantity: int | None = None
    max_price: int | None = None
    marketplace: str | None = None


def _row_key(value: str) -> str:
    """The sort key ``_ROW_KEY`` computes, for a row the caller typed."""
    v = value.strip()
    return v.zfill(8) if v.isdigit() and len(v) <= 6 else "x" + v.upper().rjust(8)


def _event_listings_sql(event_id: int, f: ListingFilter, sort: str,
                        after: list[Any] | None) -> tuple[list[str], dict[str, Any]]:
    """The queries of one page, one per run of the sort, and their parameters but the
    ``limit`` (what is left of the page when a run starts)."""
    params: dict[str, Any] = {"event_id": event_id}
    where = ["c.event_id = %(event_id)s", "c.gone_at IS NULL"]
    if f.section:
        params["section"] = f.section
        where.append("upper(c.section) = upper(%(section)s)")
    if f.zone:
        params["zone"] = f.zone
        where.append("upper(c.zone) = upper(%(zone)s)")
    if f.row_from:
        params["row_from"] = _row_key(f.row_from)
        where.append(f"c.\"row\" IS NOT NULL AND {_ROW_KEY} >= %(row_from)s")
    if f.row_to:
        params["row_to"] = _row_key(f.row_to)
        where.append(f"c.\"row\" IS NOT NULL AND {_ROW_KEY} <= %(row_to)s")
    if f.quantity:
        params["qty"] = f.quantity
        where.append("""c.quantity >= %(qty)s AND (c.splits IS NULL OR c.splits = ''
            OR %(qty)s::text = ANY(string_to_array(replace(c.splits, ' ', ''), ',')))""")
    if f.max_price is not None:
        params["max_price"] = f.max_price
        where.append("c.total_cents <= %(max_price)s")
    if f.marketplace:
        params["mk"] = f.marketplace
        where.append("c.marketplace = %(mk)s")
    if after is not None:
        params["c_key"], params["c_mk"], params["c_id"] = after
    return [_run_sql(run, where, after is not None) for run in _SORTS[sort]], params


def _run_sql(run: _Order, where: list[str], after: bool) -> str:
    where = [*where, run.where] if run.where else list(where)
    if after:
        where.append(f"({run.key}, c.marketplace, c.listing_id) > "
                     f"(%(c_key)s::{run.key_type}, %(c_mk)s::text, %(c_id)s::text)")
        if run.start:
            where.append(run.start)
    # the page first (in an index's order), then each row's buy link
    return f"""SELECT p.*, {_BUY_URL.format(t="p")}
              FROM (SELECT {_COLS}, {run.key} AS sort_key FROM listings_current c
                    WHERE {" AND ".join(where)}
                    ORDER BY {run.order_by} LIMIT %(limit)s) p
              ORDER BY p.sort_key, p.marketplace, p.listing_id"""


def _best_deals_sql(f: EventFilter, min_score: float | None, limit: int,
                    after: list[Any] | None,
                    event_ids: list[int] | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit + 1}
    where = ["c.gone_at IS NULL", "c.deal_score IS NOT NULL", *event_conditions(f, params)]
    if event_ids is not None:
        params["event_ids"] = event_ids
        where.append("c.event_id = ANY(%(event_ids)s)")
    if f.marketplace:
        where.append("c.marketplace = %(mk)s")
    if f.max_price is not None:
        params["max_price"] = f.max_price
        where.append("c.total_cents <= %(max_price)s")
    if min_score is not None:
        params["min_score"] = min_score
        where.append("c.deal_score >= %(min_score)s")
    if after is not None:
        params["c_score"], params["c_mk"], params["c_id"] = after
        # the first bound lets the index start at the cursor (the OR alone scans from the top)
        where.append("c.deal_score <= %(c_score)s::real")
        where.append("(c.deal_score < %(c_score)s::real OR (c.deal_score = %(c_score)s::real "
                     "AND (c.marketplace, c.listing_id) > (%(c_mk)s::text, %(c_id)s::text)))")
    query = f"""SELECT {_COLS}, {_BUY_URL.format(t="c")}, e.name AS event_name, e.starts_at,
                     e.category, v.name AS venue_name, v.city
              FROM listings_current c
              JOIN events e ON e.id = c.event_id
              LEFT JOIN venues v ON v.id = e.venue_id
              WHERE {" AND ".join(where)}
              ORDER BY c.deal_score DESC, c.marketplace, c.listing_id
              LIMIT %(limit)s"""
    return query, params


async def event_listings(conn: psycopg.AsyncConnection[Any], event_id: int, f: ListingFilter,
                         sort: str, limit: int, after: list[Any] | None) -> list[PagedListing]:
    """One page of an event's live listings by all-in price ("price") or deal score
    ("deal"), after the cursor ``[sort_key, marketplace, listing_id]``; ``limit + 1`` rows
    tell whether a next page exists."""
    queries, params = _event_listings_sql(event_id, f, sort, after)
    rows: list[PagedListing] = []
    async with conn.cursor(row_factory=record_row(PagedListing)) as cur:
        for query in queries:
            await cur.execute(query, {**params, "limit": limit + 1 - len(rows)})
            rows += await cur.fetchall()
            if len(rows) > limit:
                break
    return rows


async def best_deals(conn: psycopg.AsyncConnection[Any], f: EventFilter,
                     min_score: float | None, limit: int, after: list[Any] | None,
                     event_ids: list[int] | None = None) -> list[DealListing]:
    """Live listings with the highest deal scores across events matching ``f`` (and among
    ``event_ids`` when given), after the cursor ``[deal_score, marketplace, listing_id]``;
    ``limit + 1`` rows tell whether a next page exists."""
    query, params = _best_deals_sql(f, min_score, limit, after, event_ids)
    async with conn.cursor(row_factory=record_row(DealListing)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def section_prices(conn: psycopg.AsyncConnection[Any], event_id: int
                         ) -> list[SectionPrice]:
    """Cheapest all-in price, listings and tickets per section of an event (seat map)."""
    async with conn.cursor(row_factory=record_row(SectionPrice)) as cur:
        await cur.execute(_SECTION_PRICES, (event_id,))
        return await cur.fetchall()


async def listen_for_changes(conn: psycopg.AsyncConnection[Any]) -> None:
    """Subscribe ``conn`` (autocommit) to the event ids of each write to listings."""
    await conn.execute(f"LISTEN {LISTINGS_CHANNEL}")


def changed_event_ids(payload: str) -> list[int]:
    """The event ids a ``ripcity_listings`` notification names."""
    return [int(p) for p in payload.replace(" ", "").split(",") if p.isdigit()]
