"""Venue identity: one venue under every marketplace's ids and spellings.

A marketplace's venue id, once known, points at our venue (``venue_aliases``); a new one is
resolved by name within the city ("Moda Center" / "Moda Center at the Rose Quarter": one
name's words within the other's, at least two shared, or nearly the same spelling), else a
new venue. A marketplace that gives only its venue id (Eventbrite's event lists) has it
learned from the first confident event match (``learn_alias``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from storage.events.identity import norm

if TYPE_CHECKING:
    import psycopg

    from storage.records import EventRecord

logger = logging.getLogger(__name__)

#: rapidfuzz ratio of normalised names above which two spellings are one venue
SPELLING_THRESHOLD = 92.0

_ALIAS = "SELECT venue_id FROM venue_aliases WHERE marketplace = %s AND source_venue_id = %s"
_IN_CITY = ("SELECT id, name FROM venues WHERE lower(coalesce(city, '')) = lower(%s) "
            "OR %s = '' UNION SELECT v.id, a.name FROM venue_aliases a JOIN venues v "
            "ON v.id = a.venue_id WHERE a.name IS NOT NULL AND "
            "(lower(coalesce(v.city, '')) = lower(%s) OR %s = '')")
_CREATE = ("INSERT INTO venues (name, city, timezone) VALUES (%s, %s, %s) "
           "ON CONFLICT ((lower(name)), (lower(coalesce(city, '')))) "
           "DO UPDATE SET timezone = coalesce(venues.timezone, EXCLUDED.timezone) RETURNING id")
_ADD_ALIAS = ("INSERT INTO venue_aliases (marketplace, source_venue_id, venue_id, name, learned) "
              "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (marketplace, source_venue_id) DO NOTHING")


def same_venue_name(a: str, b: str) -> bool:
    ta, tb = set(norm(a).split()), set(norm(b).split())
    if not ta or not tb:
        return False
    if ta == tb or ((ta <= tb or tb <= ta) and len(ta & tb) >= 2):
        return True
    return fuzz.ratio(norm(a), norm(b)) >= SPELLING_THRESHOLD


def resolve_venue(conn: psycopg.Connection, ev: EventRecord) -> int | None:
    """Our venue for ``ev`` (None when it names none we know and gives no name)."""
    if ev.venue_source_id:
        row = conn.execute(_ALIAS, (ev.marketplace, ev.venue_source_id)).fetchone()
        if row:
            return int(row[0])
    if not ev.venue_name:
        return None
    city = ev.venue_city or ""
    venue_id, how = None, "name"
    for vid, name in conn.execute(_IN_CITY, (city, city, city, city)).fetchall():
        if same_venue_name(ev.venue_name, name):
            venue_id = int(vid)
            break
    if venue_id is None:
        row = conn.execute(_CREATE, (ev.venue_name, ev.venue_city, ev.timezone)).fetchone()
        assert row is not None
        venue_id, how = int(row[0]), "new"
    if ev.venue_source_id:
        conn.execute(_ADD_ALIAS, (ev.marketplace, ev.venue_source_id, venue_id,
                                  ev.venue_name, how))
    return venue_id


def learn_alias(conn: psycopg.Connection, ev: EventRecord, venue_id: int) -> None:
    """``ev`` was matched to an event at ``venue_id``: its marketplace's venue id is that
    venue from now on."""
    if ev.venue_source_id:
        conn.execute(_ADD_ALIAS, (ev.marketplace, ev.venue_source_id, venue_id,
                                  ev.venue_name, "event match"))
