"""Who belongs to whom: every marketplace event's canonical event, every marketplace venue
id's venue, and the matcher's recorded decisions (for grading and for operators)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

_SOURCES = "SELECT marketplace, source_event_id, event_id FROM event_sources"
_VENUES = """
SELECT marketplace, source_venue_id, venue_id FROM venue_aliases
UNION
SELECT s.marketplace, s.venue_source_id, e.venue_id FROM event_sources s
JOIN events e ON e.id = s.event_id
WHERE s.venue_source_id IS NOT NULL AND e.venue_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM venue_aliases a WHERE a.marketplace = s.marketplace
      AND a.source_venue_id = s.venue_source_id)
"""
_DECISIONS = """
SELECT marketplace, source_event_id, event_id, candidate_id, decision, score, reason,
       decided_by, decided_at
FROM event_match_decisions WHERE event_id = %(id)s OR candidate_id = %(id)s
ORDER BY decided_at, id
"""


@dataclasses.dataclass(frozen=True, slots=True)
class MatchDecision:
    marketplace: str
    source_event_id: str
    event_id: int | None
    candidate_id: int | None
    decision: str
    score: float | None
    reason: str
    decided_by: str
    decided_at: datetime


def event_assignments(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    """``(marketplace, source_event_id) -> event_id`` for every stored source."""
    return {(m, s): int(e) for m, s, e in conn.execute(_SOURCES)}


def venue_assignments(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    """``(marketplace, venue id there) -> our venue id`` for every venue id we know."""
    return {(m, s): int(v) for m, s, v in conn.execute(_VENUES)}


def match_decisions(conn: psycopg.Connection, event_id: int) -> list[MatchDecision]:
    """The matcher's (and operators') decisions that involved ``event_id``, oldest first."""
    with conn.cursor(row_factory=record_row(MatchDecision)) as cur:
        return cur.execute(_DECISIONS, {"id": event_id}).fetchall()
