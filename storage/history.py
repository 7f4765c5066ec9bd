"""Price history: bucketed prices of an event, the hourly rollups behind it, one listing's
prices. One query layer for TimescaleDB and native partitions.

Snapshots are written only when a listing is new or changes, so price history carries each
listing's state forward: a snapshot is valid from its ``observed_at`` until the next snapshot
of the same listing, until the listing is gone, or (not seen for ``stale_after``) until it is
presumed gone. A bucket then counts every listing alive in it at its latest known price.
Buckets use ``date_bin`` (PostgreSQL 14+, fine on TimescaleDB too) aligned to UTC midnight.

That carry-forward query is exact but costly, so the engine keeps hourly rollups per event,
marketplace and section (``listing_rollups_hourly``, :func:`refresh_hourly_rollups`), and
:func:`event_history` serves whole hours already rolled up from them and only the rest
(sub-hour buckets, the hours since the last rollup) from snapshots.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
GroupBy = Literal["marketplace", "merged", "section"]
_HOUR = timedelta(hours=1)

_HISTORY = """
WITH v AS (
    SELECT s.marketplace, s.listing_id, s.section, s.observed_at, s.total_cents, s.quantity,
           least(coalesce(lead(s.observed_at) OVER w, c.gone_at,
                          listing_last_seen(c) + %(stale)s, %(until)s), %(until)s) AS valid_until
    FROM listing_snapshots s
    LEFT JOIN listings_current c
           ON c.marketplace = s.marketplace AND c.listing_id = s.listing_id
    WHERE s.event_id = %(event)s AND s.observed_at < %(until)s {filters}
    WINDOW w AS (PARTITION BY s.marketplace, s.listing_id ORDER BY s.observed_at)
),
x AS (
    SELECT DISTINCT ON (b, v.marketplace, v.listing_id)
           b, v.marketplace, v.section, v.total_cents, v.quantity
    FROM v, LATERAL generate_series(
                date_bin(%(width)s, greatest(v.observed_at, %(since)s), %(origin)s),
                v.valid_until - interval '1 microsecond', %(width)s) AS b
    WHERE v.valid_until > %(since)s
    ORDER BY b, v.marketplace, v.listing_id, v.observed_at DESC
)
SELECT b AS bucket, {mk_col} AS marketplace, {sec_col} AS section,
       min(total_cents) AS min_cents,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY total_cents))::bigint AS median_cents,
       max(total_cents) AS max_cents, count(*)::int AS listings,
       sum(quantity)::int AS tickets
FROM x
GROUP BY {group}
ORDER BY {group}
"""

_ROLLUPS = """
WITH h AS (
    SELECT date_bin(%(width)s, r.bucket, %(origin)s) AS b, r.bucket AS hour,
           {mk_col} AS marketplace, r.min_total_cents, r.median_total_cents,
           r.max_total_cents, r.listing_count
    FROM listing_rollups_hourly r
    WHERE r.event_id = %(event)s AND r.bucket >= %(since)s AND r.bucket < %(until)s {filters}
),
w AS (  -- weighted median of the per-section medians
    SELECT b, marketplace, median_total_cents,
           sum(listing_count) OVER (PARTITION BY b, marketplace ORDER BY median_total_cents
                                    ROWS UNBOUNDED PRECEDING) AS cum,
           sum(listing_count) OVER (PARTITION BY b, marketplace) AS total
    FROM h
),
m AS (
    SELECT DISTINCT ON (b, marketplace) b, marketplace, median_total_cents AS median_cents
    FROM w WHERE cum * 2 >= total ORDER BY b, marketplace, cum
),
c AS (  -- listings alive per hour, then the busiest hour of each bucket
    SELECT b, marketplace, max(n) AS listing_count FROM (
        SELECT b, hour, marketplace, sum(listing_count) AS n FROM h GROUP BY 1, 2, 3) x
    GROUP BY 1, 2
)
SELECT h.b AS bucket, h.marketplace, NULL::text AS section, min(h.min_total_cents) AS min_cents,
       m.median_cents, max(h.max_total_cents) AS max_cents, c.listing_count AS listings,
       NULL::int AS tickets
FROM h JOIN m USING (b, marketplace) JOIN c USING (b, marketplace)
GROUP BY h.b, h.marketplace, m.median_cents, c.listing_count
ORDER BY 1, 2
"""

_ROLLUP_END = "SELECT max(bucket) FROM listing_rollups_hourly WHERE event_id = %s"
_ROLLUP_DELETE = ("DELETE FROM listing_rollups_hourly WHERE event_id = %s AND bucket >= %s "
                  "AND bucket < %s")
_ROLLUP_INSERT = (
    "INSERT INTO listing_rollups_hourly (bucket, event_id, marketplace, section, "
    "min_total_cents, median_total_cents, max_total_cents, listing_count, "
    "ticket_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
_EVENT_MARKETPLACES = "SELECT DISTINCT marketplace FROM event_sources WHERE event_id = %s"

_LISTING_HISTORY = """
SELECT observed_at, price_cents, fees_cents, total_cents, quantity
FROM listing_snapshots
WHERE event_id = %s AND marketplace = %s AND listing_id = %s
ORDER BY observed_at LIMIT 5000
"""


@dataclasses.dataclass(frozen=True, slots=True)
class PricePoint:
    """One bucket of an event's price history (``marketplace`` / ``section`` None = merged)."""

    bucket: datetime
    marketplace: str | None
    section: str | None
    min_cents: int
    median_cents: int
    max_cents: int
    #: listings alive in the bucket (from rollups: in its busiest hour)
    listings: int
    #: tickets of those listings; None when the bucket comes from the hourly rollups
    tickets: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class ListingPrice:
    """One price a listing had, from when it was observed."""

    observed_at: datetime
    price_cents: int
    fees_cents: int | None
    total_cents: int
    quantity: int


def _filters(marketplace: str | None, section: str | None, alias: str) -> str:
    out = ""
    if marketplace:
        out += f" AND {alias}.marketplace = %(mk)s"
    if section:
        out += f" AND upper({alias}.section) = upper(%(section)s)"
    return out


def _history_sql(event_id: int, since: datetime, until: datetime, bucket: timedelta,
                 by: GroupBy, marketplace: str | None, section: str | None,
                 stale_after: timedelta) -> tuple[sql.Composed, dict[str, Any]]:
    group = {"marketplace": "b, x.marketplace", "merged": "b", "section": "b, x.section"}[by]
    query = sql.SQL(_HISTORY).format(
        filters=sql.SQL(_filters(marketplace, section, "s")),
        mk_col=sql.SQL("x.marketplace" if by == "marketplace" else "NULL::text"),
        sec_col=sql.SQL("x.section" if by == "section" else "NULL::text"),
        group=sql.SQL(group),
    )
    params = {"event": event_id, "since": since, "until": until, "width": bucket,
              "origin": ORIGIN, "stale": stale_after, "mk": marketplace, "section": section}
    return query, params


def price_history(
    conn: psycopg.Connection,
    event_id: int,
    since: datetime,
    until: datetime | None = None,
    *,
    bucket: timedelta = _HOUR,
    by: GroupBy = "marketplace",
    marketplace: str | None = None,
    section: str | None = None,
    stale_after: timedelta = timedelta(hours=6),
) -> list[PricePoint]:
    """Min / median / max all-in price and listing count per time bucket, from snapshots.

    Args:
        by: ``"marketplace"`` (one series each), ``"merged"`` (all marketplaces together)
            or ``"section"`` (one series per section, marketplaces merged).
        marketplace: restrict to one marketplace.
        section: restrict to one section (case-insensitive).
        stale_after: a listing not seen for this long is no longer counted.
    """
    query, params = _history_sql(event_id, since, until or datetime.now(UTC), bucket, by,
                                 marketplace, section, stale_after)
    with conn.cursor(row_factory=record_row(PricePoint)) as cur:
        return cur.execute(query, params).fetchall()


async def price_history_async(
    conn: psycopg.AsyncConnection[Any],
    event_id: int,
    since: datetime,
    until: datetime | None = None,
    *,
    bucket: timedelta = _HOUR,
    by: GroupBy = "marketplace",
    marketplace: str | None = None,
    section: str | None = None,
    stale_after: timedelta = timedelta(hours=6),
) -> list[PricePoint]:
    """:func:`price_history` for the API's async pool."""
    query, params = _history_sql(event_id, since, until or datetime.now(UTC), bucket, by,
                                 marketplace, section, stale_after)
    async with conn.cursor(row_factory=record_row(PricePoint)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def section_history(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime | None = None,
    *, bucket: timedelta = _HOUR, marketplace: str | None = None,
) -> list[PricePoint]:
    """Price history per section (see :func:`price_history`)."""
    return price_history(conn, event_id, since, until, bucket=bucket, by="section",
                         marketplace=marketplace)


async def event_history(conn: psycopg.AsyncConnection[Any], event_id: int, width: timedelta,
                        since: datetime, until: datetime, *, section: str | None,
                        marketplace: str | None, merged: bool) -> list[PricePoint]:
    """Buckets of ``width`` from ``since`` to ``until``, one series per marketplace (or
    ``merged``): whole hours already rolled up from the rollups, the rest from snapshots."""
    by: GroupBy = "merged" if merged else "marketplace"
    covered = await _rollup_end(conn, event_id) if width >= _HOUR else None
    if covered is None or covered <= since:
        return await price_history_async(conn, event_id, since, until, bucket=width, by=by,
                                         marketplace=marketplace, section=section)
    split = min(until, ORIGIN + (covered - ORIGIN) // width * width)  # bucket boundary
    rows = await _rollup_history(conn, event_id, since, split, width, marketplace=marketplace,
                                 section=section, merged=merged)
    if split < until:
        rows += await price_history_async(conn, event_id, split, until, bucket=width, by=by,
                                          marketplace=marketplace, section=section)
    return rows


async def _rollup_end(conn: psycopg.AsyncConnection[Any], event_id: int) -> datetime | None:
    """The end of the last rolled-up hour of an event (None: never rolled up)."""
    row = await (await conn.execute(_ROLLUP_END, (event_id,))).fetchone()
    return None if row is None or row[0] is None else row[0] + _HOUR


async def _rollup_history(conn: psycopg.AsyncConnection[Any], event_id: int, since: datetime,
                          until: datetime, width: timedelta, *, marketplace: str | None,
                          section: str | None, merged: bool) -> list[PricePoint]:
    """Buckets of ``width`` (a whole number of hours) from the hourly rollups."""
    query = sql.SQL(_ROLLUPS).format(
        mk_col=sql.SQL("NULL::text" if merged else "r.marketplace"),
        filters=sql.SQL(_filters(marketplace, section, "r")))
    params = {"event": event_id, "since": since, "until": until, "width": width,
              "origin": ORIGIN, "mk": marketplace, "section": section}
    async with conn.cursor(row_factory=record_row(PricePoint)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def listing_history(conn: psycopg.AsyncConnection[Any], event_id: int,
                          marketplace: str, listing_id: str) -> list[ListingPrice]:
    """Every price one listing has had, oldest first (at most 5000)."""
    async with conn.cursor(row_factory=record_row(ListingPrice)) as cur:
        await cur.execute(_LISTING_HISTORY, (event_id, marketplace, listing_id))
        return await cur.fetchall()


def refresh_hourly_rollups(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime | None = None
) -> int:
    """Recompute ``listing_rollups_hourly`` for one event and time range; returns rows."""
    until = until or datetime.now(UTC)
    since = ORIGIN + (since - ORIGIN) // _HOUR * _HOUR
    with conn.transaction():
        conn.execute(_ROLLUP_DELETE, (event_id, since, until))
        points = _section_points_by_marketplace(conn, event_id, since, until)
        with conn.cursor() as cur:
            cur.executemany(_ROLLUP_INSERT, [
                (p.bucket, event_id, mk, p.section or "", p.min_cents, p.median_cents,
                 p.max_cents, p.listings, p.tickets) for mk, p in points])
    return len(points)


def _section_points_by_marketplace(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime
) -> list[tuple[str, PricePoint]]:
    marketplaces = [r[0] for r in conn.execute(_EVENT_MARKETPLACES, (event_id,))]
    out: list[tuple[str, PricePoint]] = []
    for mk in marketplaces:
        out.extend((mk, p) for p in section_history(conn, event_id, since, until,
                                                    marketplace=mk))
    return out
