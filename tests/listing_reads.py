"""Synchronous reads of ``listings_current`` the storage tests check ingest with.

The product reads listings through ``storage.listings`` (async, for the API); these read
the raw state (``last_seen``, gone listings) that the ingest and TimescaleDB tests assert on.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg import sql
from psycopg.rows import class_row

if TYPE_CHECKING:
    import psycopg


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
