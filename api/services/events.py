"""Event reads: search, one event with prices per marketplace and trend, refresh requests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from api.lib.errors import NotFound

if TYPE_CHECKING:
    from psycopg import AsyncConnection


@dataclasses.dataclass(slots=True)
class EventFilter:
    q: str | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    category: str | None = None
    city: str | None = None
    venue_id: int | None = None
    marketplace: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    include_past: bool = False


def like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def event_where(f: EventFilter, params: dict[str, Any], alias: str = "e",
                venue: str = "v") -> list[str]:
    """SQL conditions on events (and their venue) for a filter; fills ``params``."""
    where: list[str] = []
    if f.q:
        params["q"], params["q_like"] = f.q, like(f.q)
        where.append(f"""({alias}.search @@ plainto_tsquery('simple', %(q)s)
            OR {alias}.name ILIKE %(q_like)s OR {venue}.name ILIKE %(q_like)s
            OR {venue}.city ILIKE %(q_like)s
            OR array_to_string({alias}.performers, ' ') ILIKE %(q_like)s)""")
    if f.starts_after:
        params["after"] = f.starts_after
        where.append(f"{alias}.starts_at >= %(after)s")
    elif not f.include_past:
        where.append(f"({alias}.starts_at IS NULL "
                     f"OR {alias}.starts_at >= now() - interval '6 hours')")
    if f.starts_before:
        params["before"] = f.starts_before
        where.append(f"{alias}.starts_at < %(before)s")
    if f.category:
        params["category"] = f.category
        where.append(f"lower({alias}.category) = lower(%(category)s)")
    if f.city:
        params["city"] = f.city
        where.append(f"lower({venue}.city) = lower(%(city)s)")
    if f.venue_id:
        params["venue_id"] = f.venue_id
        where.append(f"{alias}.venue_id = %(venue_id)s")
    if f.marketplace:
        params["mk"] = f.marketplace
        where.append(f"""EXISTS (SELECT 1 FROM event_sources es
            WHERE es.event_id = {alias}.id AND es.marketplace = %(mk)s)""")
    return where


_SORTS = {
    # sort name -> (key expression over the candidate row, SQL type of the key)
    "date": ("coalesce(starts_at, 'infinity'::timestamptz)", "timestamptz"),
    "price": ("coalesce(get_in_cents, 9223372036854775807)", "bigint"),
    "deal": ("-coalesce(best_deal_score, -1000000)::float8", "float8"),
}


async def search_events(conn: AsyncConnection[Any], f: EventFilter, sort: str, limit: int,
                        after: list[Any] | None) -> list[dict[str, Any]]:
    """One page of events (``limit + 1`` rows to tell whether there is a next page)."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = event_where(f, params)
    mk_cond = "AND c.marketplace = %(mk)s" if f.marketplace else ""
    key, key_type = _SORTS[sort]
    outer: list[str] = []
    if f.min_price is not None:
        params["min_price"] = f.min_price
        outer.append("get_in_cents >= %(min_price)s")
    if f.max_price is not None:
        params["max_price"] = f.max_price
        outer.append("get_in_cents <= %(max_price)s")
    if after is not None:
        params["c_key"], params["c_id"] = after
        outer.append(f"(sort_key, id) > (%(c_key)s::{key_type}, %(c_id)s::bigint)")
    if f.marketplace:  # get-in price on that marketplace: aggregate its live listings
        prices = f"""LEFT JOIN LATERAL (
                SELECT min(c.total_cents) AS get_in_cents, count(*) AS listing_count,
                       max(c.deal_score) AS best_deal_score
                FROM listings_current c
                WHERE c.event_id = e.id AND c.gone_at IS NULL {mk_cond}) p ON true"""
    else:  # all marketplaces: the summary the ingest listener keeps current
        prices = "LEFT JOIN api_event_summary p ON p.event_id = e.id"
    sql = f"""
        WITH cand AS (
            SELECT e.id, e.name, e.starts_at, e.category, e.performers, e.status,
                   e.venue_id, v.name AS venue_name, v.city AS venue_city,
                   v.timezone AS venue_timezone,
                   p.get_in_cents, coalesce(p.listing_count, 0) AS listing_count,
                   p.best_deal_score, coalesce(m.marketplaces, '{{}}') AS marketplaces
            FROM events e
            LEFT JOIN venues v ON v.id = e.venue_id
            {prices}
            LEFT JOIN LATERAL (
                SELECT array_agg(DISTINCT es.marketplace ORDER BY es.marketplace) AS marketplaces
                FROM event_sources es WHERE es.event_id = e.id) m ON true
            {"WHERE " + " AND ".join(where) if where else ""}
        ), keyed AS (SELECT cand.*, {key} AS sort_key FROM cand)
        SELECT * FROM keyed
        {"WHERE " + " AND ".join(outer) if outer else ""}
        ORDER BY sort_key, id
        LIMIT %(limit)s"""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


async def get_event(conn: AsyncConnection[Any], event_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT e.id, e.name, e.starts_at, e.category, e.performers, e.status, e.timezone,
                  e.venue_id, v.name AS venue_name, v.city AS venue_city,
                  v.timezone AS venue_timezone
           FROM events e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.id = %s""",
        (event_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"There is no event {event_id}; find event ids with "
                       "GET /api/v1/events?q=<performer, team, venue or city>.")
    await cur.execute(
        """SELECT marketplace, source_event_id, url FROM event_sources
           WHERE event_id = %s ORDER BY marketplace, source_event_id""", (event_id,))
    row["links"] = await cur.fetchall()
    await cur.execute(
        """SELECT marketplace, min(total_cents) AS get_in_cents, count(*) AS listing_count
           FROM listings_current WHERE event_id = %s AND gone_at IS NULL
           GROUP BY marketplace ORDER BY marketplace""", (event_id,))
    row["prices"] = await cur.fetchall()
    await cur.execute(
        """SELECT coalesce(
               (SELECT min(min_total_cents) FROM listing_rollups_hourly
                WHERE event_id = %(id)s AND bucket = (
                    SELECT max(bucket) FROM listing_rollups_hourly
                    WHERE event_id = %(id)s AND bucket <= now() - interval '24 hours')),
               (SELECT min(total_cents) FROM listing_snapshots
                WHERE event_id = %(id)s AND observed_at >= now() - interval '25 hours'
                  AND observed_at < now() - interval '23 hours')) AS then_cents""",
        {"id": event_id})
    then = await cur.fetchone()
    row["then_cents"] = then["then_cents"] if then else None
    return row


async def refresh_summaries(conn: AsyncConnection[Any], event_ids: list[int] | None) -> int:
    """Recompute the search summaries of these events (None: of every event)."""
    if event_ids is None:
        cur = await conn.execute(
            "SELECT api_refresh_event_summary(array(SELECT id FROM events))")
    else:
        cur = await conn.execute("SELECT api_refresh_event_summary(%s::bigint[])",
                                 (event_ids,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def event_exists(conn: AsyncConnection[Any], event_id: int) -> None:
    cur = await conn.execute("SELECT 1 FROM events WHERE id = %s", (event_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"There is no event {event_id}; find event ids with "
                       "GET /api/v1/events?q=<performer, team, venue or city>.")


_REFRESH_COLS = "id, event_id, status, requested_at, claimed_at, finished_at, error"


async def request_refresh(conn: AsyncConnection[Any], event_id: int,
                          user_id: int | None) -> tuple[dict[str, Any], bool]:
    """A pending refresh of the event: an existing unclaimed one, or a new one (True)."""
    cur = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        await cur.execute("SELECT pg_advisory_xact_lock(72011100, %s::int)", (event_id % 2**31,))
        await cur.execute(
            f"""SELECT {_REFRESH_COLS} FROM refresh_requests
                WHERE event_id = %s AND claimed_at IS NULL ORDER BY id LIMIT 1""", (event_id,))
        row = await cur.fetchone()
        if row is not None:
            return row, False
        await cur.execute(
            f"""INSERT INTO refresh_requests (event_id, requested_by) VALUES (%s, %s)
                RETURNING {_REFRESH_COLS}""", (event_id, user_id))
        row = await cur.fetchone()
    assert row is not None
    return row, True


async def count_recent_refreshes(conn: AsyncConnection[Any], user_id: int) -> int:
    cur = await conn.execute(
        """SELECT count(*) FROM refresh_requests WHERE requested_by = %s
           AND requested_at > now() - interval '1 hour'""", (user_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def get_refresh(conn: AsyncConnection[Any], request_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_REFRESH_COLS} FROM refresh_requests WHERE id = %s",
                      (request_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"There is no refresh request {request_id}; POST "
                       "/api/v1/events/{{id}}/refresh creates one.")
    return row
