"""A user's saved searches: kept with a name, listed with what is new since they last
looked, edited, deleted, opened (which marks them looked at).

Every statement filters on ``user_id`` (another user's id is "not found"). How many a user
keeps is a plan limit (:func:`storage.watchlists.reserve_slot`, table ``saved_searches``);
alerts are matched by :mod:`storage.alerts.saved_matching`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg.errors
from psycopg import sql

from storage.alerts._saved_sql import EVENT_MATCHES
from storage.db import record_row
from storage.errors import InvalidValue, NotFound
from storage.events.filters import EventFilter

if TYPE_CHECKING:
    from psycopg import AsyncConnection

#: the columns a caller may set
FIELDS = ("name", "q", "starts_after", "starts_before", "category", "city", "venue_id",
          "marketplace", "min_price_cents", "max_price_cents", "quantity", "min_deal_score",
          "sort", "alert_new_events", "alert_listings", "channels")


@dataclasses.dataclass(frozen=True, slots=True)
class SavedSearch:
    """A saved search with its alert switches and what is new since it was last opened."""

    id: int
    name: str
    q: str | None
    starts_after: datetime | None
    starts_before: datetime | None
    category: str | None
    city: str | None
    venue_id: int | None
    marketplace: str | None
    min_price_cents: int | None
    max_price_cents: int | None
    quantity: int
    min_deal_score: float | None
    sort: str
    alert_new_events: bool
    alert_listings: bool
    channels: list[str]
    last_viewed_at: datetime
    created_at: datetime
    updated_at: datetime
    #: matching events first stored after ``last_viewed_at``
    new_events: int
    #: live listings meeting its conditions first seen after ``last_viewed_at`` (capped)
    new_listings: int
    #: the newest alert it matched, None if none
    last_alerted_at: datetime | None

    def event_filter(self) -> EventFilter:
        """The event search this saved search stands for."""
        return EventFilter(q=self.q, starts_after=self.starts_after,
                           starts_before=self.starts_before, category=self.category,
                           city=self.city, venue_id=self.venue_id,
                           marketplace=self.marketplace, min_price=self.min_price_cents,
                           max_price=self.max_price_cents,
                           quantity=self.quantity if self.quantity > 1 else None,
                           min_deal_score=self.min_deal_score)


#: a cap on the "new listings" count, so a broad search costs a bounded read
NEW_LISTINGS_CAP = 1000

_COLS = f"""s.id, s.name, s.q, s.starts_after, s.starts_before, s.category, s.city,
    s.venue_id, s.marketplace, s.min_price_cents, s.max_price_cents, s.quantity,
    s.min_deal_score::float8 AS min_deal_score, s.sort, s.alert_new_events, s.alert_listings,
    s.channels, s.last_viewed_at, s.created_at, s.updated_at,
    (SELECT count(*) FROM events e LEFT JOIN venues v ON v.id = e.venue_id
     WHERE e.created_at > s.last_viewed_at AND {EVENT_MATCHES}) AS new_events,
    (SELECT count(*) FROM (
        SELECT 1 FROM events e LEFT JOIN venues v ON v.id = e.venue_id
        JOIN listings_current lc ON lc.event_id = e.id AND lc.gone_at IS NULL
        WHERE lc.first_seen > s.last_viewed_at AND lc.quantity >= s.quantity
          AND (s.marketplace IS NULL OR lc.marketplace = s.marketplace)
          AND (s.min_price_cents IS NULL OR lc.total_cents >= s.min_price_cents)
          AND (s.max_price_cents IS NULL OR lc.total_cents <= s.max_price_cents)
          AND (s.min_deal_score IS NULL OR lc.deal_score >= s.min_deal_score)
          AND {EVENT_MATCHES}
        LIMIT {NEW_LISTINGS_CAP}) n) AS new_listings,
    (SELECT max(m.matched_at) FROM alert_matches m
     WHERE m.saved_search_id = s.id) AS last_alerted_at"""
_LIST = f"""SELECT {_COLS} FROM saved_searches s WHERE s.user_id = %s AND s.id > %s
ORDER BY s.id LIMIT %s"""
_GET = f"SELECT {_COLS} FROM saved_searches s WHERE s.id = %s AND s.user_id = %s"
_VIEWED = """UPDATE saved_searches SET last_viewed_at = now()
WHERE id = %s AND user_id = %s RETURNING id"""
_DELETE = "DELETE FROM saved_searches WHERE id = %s AND user_id = %s RETURNING id"
_VENUE = "SELECT 1 FROM venues WHERE id = %s"


def _missing(ident: int) -> NotFound:
    return NotFound(f"You have no saved search {ident}; list yours with "
                    "GET /api/v1/saved-searches.")


async def _one(conn: AsyncConnection[Any], user_id: int, ident: int) -> SavedSearch:
    cur = conn.cursor(row_factory=record_row(SavedSearch))
    await cur.execute(_GET, (ident, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing(ident)
    return row


async def _check_venue(conn: AsyncConnection[Any], fields: dict[str, Any]) -> None:
    if fields.get("venue_id") is not None:
        cur = await conn.execute(_VENUE, (fields["venue_id"],))
        if await cur.fetchone() is None:
            raise InvalidValue(f"There is no venue {fields['venue_id']}.",
                               errors=[{"field": "venue_id", "message": "no such id"}])


async def list_saved(conn: AsyncConnection[Any], user_id: int, limit: int,
                     after: int | None) -> list[SavedSearch]:
    """Up to ``limit`` + 1 of the user's saved searches with ids above ``after``."""
    cur = conn.cursor(row_factory=record_row(SavedSearch))
    await cur.execute(_LIST, (user_id, after or 0, limit + 1))
    return await cur.fetchall()


async def get_saved(conn: AsyncConnection[Any], user_id: int, ident: int) -> SavedSearch:
    """One of the user's saved searches, or ``NotFound``."""
    return await _one(conn, user_id, ident)


async def create_saved(conn: AsyncConnection[Any], user_id: int,
                       fields: dict[str, Any]) -> SavedSearch:
    """Save a search (``fields`` from :data:`FIELDS`); the caller reserved the plan slot."""
    await _check_venue(conn, fields)
    cols = [k for k in FIELDS if k in fields]
    query = sql.SQL("INSERT INTO saved_searches (user_id, {cols}) VALUES (%s, {vals}) "
                    "RETURNING id").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    try:
        cur = await conn.execute(query, (user_id, *(fields[k] for k in cols)))
    except psycopg.errors.CheckViolation as err:
        raise InvalidValue(f"That saved search cannot be stored: {err.diag.message_primary}"
                           ) from err
    row = await cur.fetchone()
    assert row is not None
    return await _one(conn, user_id, int(row[0]))


async def update_saved(conn: AsyncConnection[Any], user_id: int, ident: int,
                       fields: dict[str, Any]) -> SavedSearch:
    """Change the given fields (None clears a filter)."""
    cols = [k for k in FIELDS if k in fields]
    if not cols:
        return await _one(conn, user_id, ident)
    await _check_venue(conn, fields)
    query = sql.SQL("UPDATE saved_searches SET {sets}, updated_at = now() "
                    "WHERE id = %s AND user_id = %s RETURNING id").format(
        sets=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in cols))
    try:
        cur = await conn.execute(query, (*(fields[k] for k in cols), ident, user_id))
    except psycopg.errors.CheckViolation as err:
        raise InvalidValue(f"That saved search cannot be stored: {err.diag.message_primary}"
                           ) from err
    if await cur.fetchone() is None:
        raise _missing(ident)
    return await _one(conn, user_id, ident)


async def delete_saved(conn: AsyncConnection[Any], user_id: int, ident: int) -> None:
    """Delete one of the user's saved searches (its alerts already sent stay in history)."""
    cur = await conn.execute(_DELETE, (ident, user_id))
    if await cur.fetchone() is None:
        raise _missing(ident)


async def mark_viewed(conn: AsyncConnection[Any], user_id: int, ident: int) -> None:
    """The user looked at the search's results now: "new" counts start again."""
    cur = await conn.execute(_VIEWED, (ident, user_id))
    if await cur.fetchone() is None:
        raise _missing(ident)


_NEW_IDS = """SELECT e.id FROM events e JOIN saved_searches s ON s.id = %s AND s.user_id = %s
WHERE e.id = ANY(%s) AND e.created_at > s.last_viewed_at ORDER BY e.id"""


async def new_event_ids(conn: AsyncConnection[Any], user_id: int, ident: int,
                        event_ids: list[int]) -> list[int]:
    """Which of ``event_ids`` were stored since the user last opened the search."""
    cur = await conn.execute(_NEW_IDS, (ident, user_id, event_ids))
    return [int(r[0]) for r in await cur.fetchall()]
