"""Async reads for the API that the sync layer (``storage.queries``) does not cover.

Price history has two sources with the same meaning (each bucket counts every listing alive
in it at its latest known price): the hourly rollups ``listing_rollups_hourly`` that the
engine keeps with ``storage.queries.refresh_hourly_rollups`` (cheap: charts of an hour and
wider), and the carry-forward query over snapshots of ``storage.queries`` (exact, costlier:
sub-hour buckets, and hours not rolled up yet). The SQL text is shared with the sync layer;
this module only adds the async driver and a section filter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg import sql
from psycopg.rows import dict_row

from storage.queries import _HISTORY, ORIGIN

if TYPE_CHECKING:
    from psycopg import AsyncConnection

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
SELECT h.b AS bucket_start, h.marketplace, min(h.min_total_cents) AS min_cents,
       m.median_cents, max(h.max_total_cents) AS max_cents, c.listing_count
FROM h JOIN m USING (b, marketplace) JOIN c USING (b, marketplace)
GROUP BY h.b, h.marketplace, m.median_cents, c.listing_count
ORDER BY 1, 2
"""


def _filters(marketplace: str | None, section: str | None, alias: str) -> str:
    out = ""
    if marketplace:
        out += f" AND {alias}.marketplace = %(mk)s"
    if section:
        out += f" AND upper({alias}.section) = upper(%(section)s)"
    return out


async def rollup_coverage(conn: AsyncConnection[Any], event_id: int) -> datetime | None:
    """The end of the last rolled-up hour of an event (None: never rolled up)."""
    cur = await conn.execute(
        "SELECT max(bucket) FROM listing_rollups_hourly WHERE event_id = %s", (event_id,))
    row = await cur.fetchone()
    return None if row is None or row[0] is None else row[0] + timedelta(hours=1)


async def rollup_history(conn: AsyncConnection[Any], event_id: int, since: datetime,
                         until: datetime, width: timedelta, *, marketplace: str | None,
                         section: str | None, merged: bool) -> list[dict[str, Any]]:
    """Buckets of ``width`` (a whole number of hours) from the hourly rollups."""
    query = sql.SQL(_ROLLUPS).format(
        mk_col=sql.SQL("NULL::text" if merged else "r.marketplace"),
        filters=sql.SQL(_filters(marketplace, section, "r")))
    params = {"event": event_id, "since": since, "until": until, "width": width,
              "origin": ORIGIN, "mk": marketplace, "section": section}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def live_history(conn: AsyncConnection[Any], event_id: int, since: datetime,
                       until: datetime, width: timedelta, *, marketplace: str | None,
                       section: str | None, merged: bool,
                       stale_after: timedelta = timedelta(hours=6)) -> list[dict[str, Any]]:
    """Buckets of any width computed from snapshots (``storage.queries.price_history``)."""
    query = sql.SQL(_HISTORY).format(
        mk_filter=sql.SQL(_filters(marketplace, section, "s")),
        mk_col=sql.SQL("NULL::text" if merged else "x.marketplace"),
        sec_col=sql.SQL("NULL::text"),
        group=sql.SQL("b" if merged else "b, x.marketplace"))
    params = {"event": event_id, "since": since, "until": until, "width": width,
              "origin": ORIGIN, "stale": stale_after, "mk": marketplace, "section": section}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return [{"bucket_start": r["bucket"], "marketplace": r["marketplace"],
             "min_cents": r["min_cents"], "median_cents": r["median_cents"],
             "max_cents": r["max_cents"], "listing_count": r["listings"]}
            for r in await cur.fetchall()]
