"""Canonical events: turn marketplace ``EventRecord`` s into our events + ``event_sources``.

Identity across marketplaces (the same game on SeatGeek and Ticketmaster) is decided here
with simple, explainable rules until the crawler's ``crawler/identity.py`` supplies a better
matcher (pass it as ``match``): an existing source id wins; then a cross reference the
marketplace itself gave; then the same venue (case-insensitive) with a start within 90
minutes and a similar name; otherwise a new event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

if TYPE_CHECKING:
    import psycopg

    from storage.records import EventRecord

logger = logging.getLogger(__name__)

#: (conn, record) -> an existing event id, or None to fall through to the built-in rules.
Matcher = Callable[["psycopg.Connection", "EventRecord"], int | None]

START_WINDOW = timedelta(minutes=90)
NAME_SIMILARITY = 60.0  # rapidfuzz token_set_ratio, 0..100


def upsert_events(
    conn: psycopg.Connection, events: Sequence[EventRecord], *, match: Matcher | None = None
) -> dict[tuple[str, str], int]:
    """Create or update canonical events and their sources, in one transaction.

    Returns:
        ``{(marketplace, source_event_id): event_id}`` for every record given.
    """
    ids: dict[tuple[str, str], int] = {}
    with conn.transaction():
        for ev in events:
            key = (ev.marketplace, ev.source_event_id)
            if key in ids:
                continue
            event_id = _existing_source(conn, ev)
            if event_id is not None:
                _update_event(conn, event_id, ev)
            else:
                event_id = (match(conn, ev) if match else None) or _match(conn, ev)
                if event_id is None:
                    event_id = _create_event(conn, ev)
                else:
                    _update_event(conn, event_id, ev, fill_only=True)
            _upsert_source(conn, event_id, ev)
            ids[key] = event_id
    return ids


def _existing_source(conn: psycopg.Connection, ev: EventRecord) -> int | None:
    row = conn.execute(
        "SELECT event_id FROM event_sources WHERE marketplace = %s AND source_event_id = %s",
        (ev.marketplace, ev.source_event_id),
    ).fetchone()
    return row[0] if row else None


def _match(conn: psycopg.Connection, ev: EventRecord) -> int | None:
    for mk, sid in ev.cross_refs:
        row = conn.execute(
            "SELECT event_id FROM event_sources WHERE marketplace = %s AND source_event_id = %s",
            (mk, sid),
        ).fetchone()
        if row:
            return row[0]
    if not ev.venue_name or ev.starts_at is None:
        return None
    candidates = conn.execute(
        "SELECT e.id, e.name FROM events e JOIN venues v ON v.id = e.venue_id "
        "WHERE lower(v.name) = lower(%s) AND e.starts_at BETWEEN %s AND %s",
        (ev.venue_name, ev.starts_at - START_WINDOW, ev.starts_at + START_WINDOW),
    ).fetchall()
    scored = [(fuzz.token_set_ratio(ev.name.lower(), name.lower()), eid)
              for eid, name in candidates]
    best = max(scored, default=None)
    if best and best[0] >= NAME_SIMILARITY:
        return best[1]
    return None


def _venue_id(conn: psycopg.Connection, ev: EventRecord) -> int | None:
    if not ev.venue_name:
        return None
    row = conn.execute(
        "INSERT INTO venues (name, city, timezone) VALUES (%s, %s, %s) "
        "ON CONFLICT ((lower(name)), (lower(coalesce(city, '')))) "
        "DO UPDATE SET timezone = coalesce(venues.timezone, EXCLUDED.timezone) RETURNING id",
        (ev.venue_name, ev.venue_city, ev.timezone),
    ).fetchone()
    return row[0] if row else None


def _create_event(conn: psycopg.Connection, ev: EventRecord) -> int:
    row = conn.execute(
        "INSERT INTO events (name, starts_at, venue_id, category, performers, status, timezone) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (ev.name, ev.starts_at, _venue_id(conn, ev), ev.category, list(ev.performers),
         ev.status, ev.timezone),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _update_event(
    conn: psycopg.Connection, event_id: int, ev: EventRecord, *, fill_only: bool = False
) -> None:
    """Refresh an event from a marketplace; a matched (other) marketplace only fills gaps."""
    venue_id = _venue_id(conn, ev)
    if fill_only:
        conn.execute(
            "UPDATE events SET starts_at = coalesce(starts_at, %s), "
            "venue_id = coalesce(venue_id, %s), category = coalesce(category, %s), "
            "timezone = coalesce(timezone, %s), updated_at = now() WHERE id = %s",
            (ev.starts_at, venue_id, ev.category, ev.timezone, event_id),
        )
        return
    conn.execute(
        "UPDATE events SET name = %s, starts_at = coalesce(%s, starts_at), "
        "venue_id = coalesce(%s, venue_id), category = coalesce(%s, category), "
        "performers = CASE WHEN cardinality(%s::text[]) > 0 THEN %s::text[] ELSE performers END, "
        "status = %s, timezone = coalesce(%s, timezone), updated_at = now() WHERE id = %s",
        (ev.name, ev.starts_at, venue_id, ev.category, list(ev.performers),
         list(ev.performers), ev.status, ev.timezone, event_id),
    )


def _upsert_source(conn: psycopg.Connection, event_id: int, ev: EventRecord) -> None:
    conn.execute(
        "INSERT INTO event_sources (marketplace, source_event_id, event_id, url, name, "
        "venue_source_id) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (marketplace, source_event_id) DO UPDATE SET "
        "event_id = EXCLUDED.event_id, url = coalesce(EXCLUDED.url, event_sources.url), "
        "name = EXCLUDED.name, venue_source_id = EXCLUDED.venue_source_id, last_seen_at = now()",
        (ev.marketplace, ev.source_event_id, event_id, ev.url, ev.name, ev.venue_source_id),
    )
