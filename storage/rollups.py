"""The hourly rollups' upkeep and what the forecaster reads from them.

``refresh_rollups`` recomputes ``listing_rollups_hourly`` for the events whose listings
moved since a time (found from ``listings_current`` and complete crawls), one event per
transaction so the writers beside it never wait long. ``get_in_series`` is every event's
hourly get-in price from those rollups, the buy-or-wait model's input;
``upcoming_event_keys`` the events it forecasts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from storage.db import record_row
from storage.history import refresh_hourly_rollups

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

_HOUR = timedelta(hours=1)

_TOUCHED = """
SELECT event_id, max(at) AS last_at FROM (
    SELECT event_id, greatest(last_seen, gone_at) AS at FROM listings_current
    WHERE last_seen >= %(since)s OR last_changed >= %(since)s OR gone_at >= %(since)s
    UNION ALL  -- complete crawls that found their listings unchanged
    SELECT es.event_id, s.complete_at FROM source_event_crawls s
    JOIN event_sources es USING (marketplace, source_event_id)
    WHERE s.complete_at >= %(since)s
) t GROUP BY event_id ORDER BY event_id
"""
_LAST_SEEN = ("SELECT e.id AS event_id, max(listing_last_seen(c)) AS last_at FROM events e "
              "LEFT JOIN listings_current c "
              "ON c.event_id = e.id WHERE e.id = ANY(%s) GROUP BY e.id")
_SERIES = """
SELECT event_id::text, bucket, min(min_total_cents), sum(listing_count)::bigint
FROM listing_rollups_hourly
WHERE bucket >= %s AND bucket <= %s
GROUP BY event_id, bucket
ORDER BY event_id, bucket
"""
_UPCOMING = "SELECT id::text FROM events WHERE starts_at > %s"
_EVENT_SPAN = """
SELECT name, starts_at,
       (SELECT min(observed_at) FROM listing_snapshots WHERE event_id = %(id)s)
           AS first_observed_at
FROM events WHERE id = %(id)s
"""


@dataclasses.dataclass(frozen=True, slots=True)
class TouchedEvent:
    """An event whose rollups are due, and when its listings were last seen (None: never)."""

    event_id: int
    last_at: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class EventSpan:
    """One event's name and start, and its first stored price (None: none yet)."""

    name: str
    starts_at: datetime | None
    first_observed_at: datetime | None


def touched_events(conn: psycopg.Connection[Any], since: datetime) -> list[TouchedEvent]:
    """Events whose listings were seen, changed or went away at or after ``since``."""
    with conn.cursor(row_factory=record_row(TouchedEvent)) as cur:
        return cur.execute(_TOUCHED, {"since": since}).fetchall()


def events_last_seen(conn: psycopg.Connection[Any], event_ids: Sequence[int]
                     ) -> list[TouchedEvent]:
    """The stored ones of ``event_ids``, with when their listings were last seen."""
    with conn.cursor(row_factory=record_row(TouchedEvent)) as cur:
        return cur.execute(_LAST_SEEN, (list(event_ids),)).fetchall()


def refresh_rollups(conn: psycopg.Connection[Any], since: datetime,
                    now: datetime | None = None, event_ids: Sequence[int] | None = None
                    ) -> dict[str, int]:
    """Recompute ``listing_rollups_hourly`` from an hour before ``since`` for every event
    whose listings were seen, changed or went away since then (or for ``event_ids``);
    returns counts (``events``, ``rows``).

    The hour of slack covers batches stamped before they were committed. Commits ``conn``
    after each event: short transactions beside the writers."""
    now = now or datetime.now(UTC)
    touched = (touched_events(conn, since) if event_ids is None
               else events_last_seen(conn, event_ids))
    rows = 0
    for ev in touched:
        until = max(now, ev.last_at or now) + _HOUR
        rows += refresh_hourly_rollups(conn, ev.event_id, since - _HOUR, until)
        conn.commit()
    return {"events": len(touched), "rows": rows}


def get_in_series(conn: psycopg.Connection[Any], since: datetime,
                  until: datetime | None = None) -> pa.Table:
    """Per event and hour from ``since`` (to ``until``, default: all): the cheapest all-in
    price and live listings, from the rollups (``event_key``, ``observed_at``,
    ``get_in_cents``, ``listings``)."""
    import pyarrow as pa

    rows = conn.execute(_SERIES, (since, until or datetime.max.replace(tzinfo=UTC))).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    return pa.table({
        "event_key": pa.array(list(cols[0]), pa.string()),
        "observed_at": pa.array(list(cols[1]), pa.timestamp("us", tz="UTC")),
        "get_in_cents": pa.array(list(cols[2]), pa.int64()),
        "listings": pa.array(list(cols[3]), pa.int64()),
    })


def upcoming_event_keys(conn: psycopg.Connection[Any], after: datetime) -> list[str]:
    """Ids (as text, the series' ``event_key``) of the events that start after ``after``."""
    return [r[0] for r in conn.execute(_UPCOMING, (after,))]


def event_span(conn: psycopg.Connection[Any], event_id: int) -> EventSpan | None:
    """``event_id``'s name, start and first stored price, or None if there is no such
    event (what ``ripcity deals forecast`` needs before it refreshes one event)."""
    with conn.cursor(row_factory=record_row(EventSpan)) as cur:
        return cur.execute(_EVENT_SPAN, {"id": event_id}).fetchone()
