"""Reads for the API and the engine, one layer for TimescaleDB and native partitions.

Snapshots are written only when a listing is new or changes, so price history carries each
listing's state forward: a snapshot is valid from its ``observed_at`` until the next snapshot
of the same listing, until the listing is gone, or (not seen for ``stale_after``) until it is
presumed gone. A bucket then counts every listing alive in it at its latest known price.
Buckets use ``date_bin`` (PostgreSQL 14+, fine on TimescaleDB too) aligned to UTC midnight.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from psycopg import sql
from psycopg.rows import class_row

if TYPE_CHECKING:
    import psycopg

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
GroupBy = Literal["marketplace", "merged", "section"]


@dataclasses.dataclass(frozen=True, slots=True)
class PricePoint:
    """One bucket of an event's price history (``marketplace`` / ``section`` None = merged)."""

    bucket: datetime
    marketplace: str | None
    section: str | None
    min_cents: int
    median_cents: int
    max_cents: int
    listings: int
    tickets: int


@dataclasses.dataclass(frozen=True, slots=True)
class ListingRow:
    """A listing as it is now (``listings_current``)."""

    marketplace: str
    listing_id: str
    event_id: int
    section: str | None
    row: str | None
    seats: str | None
    quantity: int
    splits: str | None
    price_cents: int
    fees_cents: int | None
    total_cents: int
    currency: str | None
    delivery: str | None
    kind: str | None
    first_seen: datetime
    last_seen: datetime
    gone_at: datetime | None
    fair_value_cents: int | None
    deal_score: float | None
    deal_rank: int | None
    deal_reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class GetIn:
    """The cheapest all-in ticket on one marketplace right now."""

    marketplace: str
    min_total_cents: int
    listings: int
    tickets: int


_HISTORY = """
WITH v AS (
    SELECT s.marketplace, s.listing_id, s.section, s.observed_at, s.total_cents, s.quantity,
           least(coalesce(lead(s.observed_at) OVER w, c.gone_at,
                          listing_last_seen(c) + %(stale)s, %(until)s), %(until)s) AS valid_until
    FROM listing_snapshots s
    LEFT JOIN listings_current c
           ON c.marketplace = s.marketplace AND c.listing_id = s.listing_id
    WHERE s.event_id = %(event)s AND s.observed_at < %(until)s {mk_filter}
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


def price_history(
    conn: psycopg.Connection,
    event_id: int,
    since: datetime,
    until: datetime | None = None,
    *,
    bucket: timedelta = timedelta(hours=1),
    by: GroupBy = "marketplace",
    marketplace: str | None = None,
    stale_after: timedelta = timedelta(hours=6),
) -> list[PricePoint]:
    """Min / median / max all-in price and listing count per time bucket.

    Args:
        by: ``"marketplace"`` (one series each), ``"merged"`` (all marketplaces together)
            or ``"section"`` (one series per section, marketplaces merged).
        marketplace: restrict to one marketplace.
        stale_after: a listing not seen for this long is no longer counted.
    """
    until = until or datetime.now(UTC)
    group = {"marketplace": "b, x.marketplace", "merged": "b",
             "section": "b, x.section"}[by]
    query = sql.SQL(_HISTORY).format(
        mk_filter=sql.SQL("AND s.marketplace = %(mk)s" if marketplace else ""),
        mk_col=sql.SQL("x.marketplace" if by == "marketplace" else "NULL::text"),
        sec_col=sql.SQL("x.section" if by == "section" else "NULL::text"),
        group=sql.SQL(group),
    )
    params = {"event": event_id, "since": since, "until": until, "width": bucket,
              "origin": ORIGIN, "stale": stale_after, "mk": marketplace}
    with conn.cursor(row_factory=class_row(PricePoint)) as cur:
        return cur.execute(query, params).fetchall()


def section_history(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime | None = None,
    *, bucket: timedelta = timedelta(hours=1), marketplace: str | None = None,
) -> list[PricePoint]:
    """Price history per section (see ``price_history``)."""
    return price_history(conn, event_id, since, until, bucket=bucket, by="section",
                         marketplace=marketplace)


_LISTING_COLS = (
    'marketplace, listing_id, event_id, section, "row", seats, quantity, splits, price_cents, '
    "fees_cents, total_cents, currency, delivery, kind, first_seen, "
    "listing_last_seen(listings_current) AS last_seen, gone_at, "
    "fair_value_cents, deal_score, deal_rank, deal_reason"
)


def event_listings(
    conn: psycopg.Connection,
    event_id: int,
    *,
    marketplace: str | None = None,
    section: str | None = None,
    min_quantity: int = 1,
    max_total_cents: int | None = None,
    include_gone: bool = False,
    after: tuple[int, str, str] | None = None,
    limit: int = 100,
) -> list[ListingRow]:
    """Listings of an event by all-in price, cheapest first.

    ``after`` is the keyset cursor ``(total_cents, marketplace, listing_id)`` of the last row
    of the previous page.
    """
    where = [sql.SQL("event_id = %(event)s"), sql.SQL("quantity >= %(qty)s")]
    if not include_gone:
        where.append(sql.SQL("gone_at IS NULL"))
    if marketplace:
        where.append(sql.SQL("marketplace = %(mk)s"))
    if section:
        where.append(sql.SQL("section = %(section)s"))
    if max_total_cents is not None:
        where.append(sql.SQL("total_cents <= %(max_total)s"))
    if after is not None:
        where.append(sql.SQL("(total_cents, marketplace, listing_id) > (%(a0)s, %(a1)s, %(a2)s)"))
    query = sql.SQL(
        "SELECT {cols} FROM listings_current WHERE {where} "
        "ORDER BY total_cents, marketplace, listing_id LIMIT %(limit)s"
    ).format(cols=sql.SQL(_LISTING_COLS), where=sql.SQL(" AND ").join(where))
    a = after or (None, None, None)
    params = {"event": event_id, "qty": min_quantity, "mk": marketplace, "section": section,
              "max_total": max_total_cents, "a0": a[0], "a1": a[1], "a2": a[2], "limit": limit}
    with conn.cursor(row_factory=class_row(ListingRow)) as cur:
        return cur.execute(query, params).fetchall()


def get_in_prices(conn: psycopg.Connection, event_id: int, *, min_quantity: int = 1
                  ) -> list[GetIn]:
    """Cheapest all-in ticket per marketplace for listings live now, cheapest first."""
    with conn.cursor(row_factory=class_row(GetIn)) as cur:
        return cur.execute(
            "SELECT marketplace, min(total_cents) AS min_total_cents, count(*)::int AS listings, "
            "sum(quantity)::int AS tickets FROM listings_current "
            "WHERE event_id = %s AND gone_at IS NULL AND quantity >= %s "
            "GROUP BY marketplace ORDER BY 2, 1",
            (event_id, min_quantity),
        ).fetchall()


def refresh_hourly_rollups(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime | None = None
) -> int:
    """Recompute ``listing_rollups_hourly`` for one event and time range; returns rows."""
    until = until or datetime.now(UTC)
    since = ORIGIN + (since - ORIGIN) // timedelta(hours=1) * timedelta(hours=1)
    with conn.transaction():
        conn.execute(
            "DELETE FROM listing_rollups_hourly WHERE event_id = %s AND bucket >= %s "
            "AND bucket < %s", (event_id, since, until))
        rows = _section_points_by_marketplace(conn, event_id, since, until)
        points = [(p, mk) for mk, p in rows]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO listing_rollups_hourly (bucket, event_id, marketplace, section, "
                "min_total_cents, median_total_cents, max_total_cents, listing_count, "
                "ticket_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(p.bucket, event_id, mk, p.section or "", p.min_cents, p.median_cents,
                  p.max_cents, p.listings, p.tickets) for p, mk in points],
            )
    return len(points)


def _section_points_by_marketplace(
    conn: psycopg.Connection, event_id: int, since: datetime, until: datetime
) -> list[tuple[str, PricePoint]]:
    marketplaces = [r[0] for r in conn.execute(
        "SELECT DISTINCT marketplace FROM event_sources WHERE event_id = %s", (event_id,))]
    out: list[tuple[str, PricePoint]] = []
    for mk in marketplaces:
        out.extend((mk, p) for p in section_history(conn, event_id, since, until,
                                                    marketplace=mk))
    return out
