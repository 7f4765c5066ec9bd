"""Listing reads: the current listings of an event, price history, best deals."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from api.services.events import EventFilter, event_where

if TYPE_CHECKING:
    from psycopg import AsyncConnection

LISTING_COLS_NO_URL = """c.marketplace, c.listing_id, c.event_id, c.section, c."row", c.seats,
    c.quantity, c.splits, c.price_cents, c.fees_cents, c.total_cents, c.currency, c.delivery,
    c.kind, c.zone, c.deal_score, c.deal_rank, c.deal_reason, c.fair_value_cents,
    c.first_seen, c.last_changed"""
LISTING_COLS = """c.marketplace, c.listing_id, c.event_id, c.section, c."row", c.seats,
    c.quantity, c.splits, c.price_cents, c.fees_cents, c.total_cents, c.currency, c.delivery,
    c.kind, c.zone, c.deal_score, c.deal_rank, c.deal_reason, c.fair_value_cents,
    c.first_seen, c.last_changed,
    (SELECT es.url FROM event_sources es WHERE es.event_id = c.event_id
       AND es.marketplace = c.marketplace ORDER BY es.last_seen_at DESC LIMIT 1) AS buy_url"""

# Rows sort as numbers when numeric ("2" < "10"), else by length then text ("Z" < "AA").
ROW_KEY = """(CASE WHEN c."row" ~ '^[0-9]{1,6}$' THEN lpad(c."row", 8, '0')
               ELSE 'x' || lpad(upper(c."row"), 8, ' ') END)"""


def row_key(value: str) -> str:
    v = value.strip()
    return v.zfill(8) if v.isdigit() and len(v) <= 6 else "x" + v.upper().rjust(8)


@dataclasses.dataclass(slots=True)
class ListingFilter:
    section: str | None = None
    zone: str | None = None
    row_from: str | None = None
    row_to: str | None = None
    quantity: int | None = None
    max_price: int | None = None
    marketplace: str | None = None


_LISTING_SORTS = {
    "price": ("c.total_cents", "bigint"),
    "deal": ("-coalesce(c.deal_score, -1000000)::float8", "float8"),
}


async def event_listings(conn: AsyncConnection[Any], event_id: int, f: ListingFilter,
                         sort: str, limit: int, after: list[Any] | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"event_id": event_id, "limit": limit + 1}
    where = ["c.event_id = %(event_id)s", "c.gone_at IS NULL"]
    if f.section:
        params["section"] = f.section
        where.append("upper(c.section) = upper(%(section)s)")
    if f.zone:
        params["zone"] = f.zone
        where.append("upper(c.zone) = upper(%(zone)s)")
    if f.row_from:
        params["row_from"] = row_key(f.row_from)
        where.append(f"c.\"row\" IS NOT NULL AND {ROW_KEY} >= %(row_from)s")
    if f.row_to:
        params["row_to"] = row_key(f.row_to)
        where.append(f"c.\"row\" IS NOT NULL AND {ROW_KEY} <= %(row_to)s")
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
    key, key_type = _LISTING_SORTS[sort]
    if after is not None:
        params["c_key"], params["c_mk"], params["c_id"] = after
        where.append(f"({key}, c.marketplace, c.listing_id) > "
                     f"(%(c_key)s::{key_type}, %(c_mk)s::text, %(c_id)s::text)")
    # the page first (index order for the price sort), then each row's buy link
    sql = f"""SELECT p.*, (SELECT es.url FROM event_sources es
                           WHERE es.event_id = p.event_id AND es.marketplace = p.marketplace
                           ORDER BY es.last_seen_at DESC LIMIT 1) AS buy_url
              FROM (SELECT {LISTING_COLS_NO_URL}, {key} AS sort_key FROM listings_current c
                    WHERE {" AND ".join(where)}
                    ORDER BY {key}, c.marketplace, c.listing_id LIMIT %(limit)s) p
              ORDER BY p.sort_key, p.marketplace, p.listing_id"""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


BUCKETS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5), "15m": timedelta(minutes=15), "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1), "3h": timedelta(hours=3), "6h": timedelta(hours=6),
    "12h": timedelta(hours=12), "1d": timedelta(days=1),
}


async def price_history(conn: AsyncConnection[Any], event_id: int, bucket: str,
                        since: datetime, until: datetime, section: str | None,
                        marketplace: str | None, merged: bool) -> list[dict[str, Any]]:
    """Min / median / max all-in price and listings alive per bucket.

    Whole hours already rolled up by the engine come from the hourly rollups; the rest
    (sub-hour buckets, the hours since the last rollup) from snapshots.
    """
    from storage.queries_api import live_history, rollup_coverage, rollup_history

    width = BUCKETS[bucket]
    kw: dict[str, Any] = {"marketplace": marketplace, "section": section, "merged": merged}
    covered = await rollup_coverage(conn, event_id) if width >= timedelta(hours=1) else None
    if covered is None or covered <= since:
        return await live_history(conn, event_id, since, until, width, **kw)
    origin = datetime(2000, 1, 1, tzinfo=since.tzinfo)
    split = min(until, origin + (covered - origin) // width * width)  # bucket boundary
    rows = await rollup_history(conn, event_id, since, split, width, **kw)
    if split < until:
        rows += await live_history(conn, event_id, split, until, width, **kw)
    return rows


async def listing_history(conn: AsyncConnection[Any], event_id: int, marketplace: str,
                          listing_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT observed_at, price_cents, fees_cents, total_cents, quantity
           FROM listing_snapshots
           WHERE event_id = %s AND marketplace = %s AND listing_id = %s
           ORDER BY observed_at LIMIT 5000""", (event_id, marketplace, listing_id))
    return await cur.fetchall()


async def best_deals(conn: AsyncConnection[Any], f: EventFilter, min_score: float | None,
                     limit: int, after: list[Any] | None,
                     event_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Current listings with the highest deal scores, across events matching ``f``."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = ["c.gone_at IS NULL", "c.deal_score IS NOT NULL",
             *event_where(f, params)]
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
        where.append("(c.deal_score < %(c_score)s::real OR (c.deal_score = %(c_score)s::real "
                     "AND (c.marketplace, c.listing_id) > (%(c_mk)s::text, %(c_id)s::text)))")
    sql = f"""SELECT {LISTING_COLS}, e.name AS event_name, e.starts_at, e.category,
                     v.name AS venue_name, v.city
              FROM listings_current c
              JOIN events e ON e.id = c.event_id
              LEFT JOIN venues v ON v.id = e.venue_id
              WHERE {" AND ".join(where)}
              ORDER BY c.deal_score DESC, c.marketplace, c.listing_id
              LIMIT %(limit)s"""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


async def watched_event_ids(conn: AsyncConnection[Any], user_id: int) -> list[int]:
    """Upcoming events the user's watchlists cover (events, performers' and venues' events)."""
    cur = await conn.execute(
        """SELECT DISTINCT e.id FROM watchlists w JOIN events e ON
               (w.kind = 'event' AND e.id = w.event_id)
            OR (w.kind = 'venue' AND e.venue_id = w.venue_id)
            OR (w.kind = 'performer' AND lower(w.performer) = ANY(
                    SELECT lower(p) FROM unnest(e.performers) p))
           WHERE w.user_id = %s
             AND (e.starts_at IS NULL OR e.starts_at >= now() - interval '6 hours')""",
        (user_id,))
    return [r[0] for r in await cur.fetchall()]
