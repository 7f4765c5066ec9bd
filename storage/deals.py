"""What the deal model reads: the event context of every event and the recent snapshot
history, as Arrow tables for its vectorised code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from storage.records import LISTING_SCHEMA, table_from_rows

if TYPE_CHECKING:
    from datetime import datetime

    import psycopg

#: One row per event of ours. ``venue`` pools section effects across a venue's events.
EVENT_CONTEXT_SCHEMA = pa.schema(
    [
        pa.field("event_key", pa.string(), nullable=False),
        pa.field("venue", pa.string()),
        pa.field("starts_at", pa.timestamp("us", tz="UTC")),
        pa.field("category", pa.string()),
        pa.field("performers", pa.string()),  # "Portland Trail Blazers|Denver Nuggets"
    ]
)

#: (marketplace, source_event_id) -> our event key, when storage has resolved identities.
SOURCE_MAP_SCHEMA = pa.schema(
    [
        pa.field("marketplace", pa.string(), nullable=False),
        pa.field("source_event_id", pa.string(), nullable=False),
        pa.field("event_key", pa.string(), nullable=False),
    ]
)

#: Snapshots as the model trains on them: listing columns and our event id (as text).
HISTORY_SCHEMA = pa.schema(
    [LISTING_SCHEMA.field(n) for n in (
        "observed_at", "marketplace", "listing_id", "source_event_id", "section", "row",
        "quantity", "total_cents", "delivery", "kind")]
    + [pa.field("event_id", pa.string())]
)

# The venue key is ``name|category``: a venue's seat map differs by configuration.
_EVENTS = """
SELECT e.id::text, coalesce(v.name, '?') || '|' || coalesce(e.category, '?'), e.starts_at,
       e.category,
       array_to_string(e.performers, '|')
FROM events e LEFT JOIN venues v ON v.id = e.venue_id
"""
_SOURCES = "SELECT marketplace, source_event_id, event_id::text FROM event_sources"
_HISTORY = """
SELECT observed_at, marketplace, listing_id, source_event_id, section, "row", quantity,
       total_cents, delivery, kind, event_id::text
FROM listing_snapshots
WHERE observed_at >= %s
ORDER BY observed_at DESC
LIMIT %s
"""

# Live listings of events not started yet, as of their last sighting (the fair-price levels).
_CURRENT = """
SELECT c.last_seen, c.marketplace, c.listing_id, c.source_event_id, c.section, c."row",
       c.quantity, c.total_cents, c.delivery, c.kind, c.event_id::text
FROM listings_current c JOIN events e ON e.id = c.event_id
WHERE c.gone_at IS NULL AND c.total_cents > 0 AND (e.starts_at IS NULL OR e.starts_at > %s)
"""


def event_context(conn: psycopg.Connection) -> tuple[pa.Table, pa.Table]:
    """Every event (``EVENT_CONTEXT_SCHEMA``: venue key, start, category, performers) and
    every marketplace id of one (``SOURCE_MAP_SCHEMA``)."""
    with conn.cursor() as cur:
        events = cur.execute(_EVENTS).fetchall()
        sources = cur.execute(_SOURCES).fetchall()
    return (table_from_rows(events, EVENT_CONTEXT_SCHEMA),
            table_from_rows(sources, SOURCE_MAP_SCHEMA))


def snapshot_history(conn: psycopg.Connection, since: datetime, limit: int) -> pa.Table:
    """The most recent ``limit`` listing snapshots observed since ``since``
    (``HISTORY_SCHEMA``), newest first."""
    with conn.cursor() as cur:
        rows = cur.execute(_HISTORY, (since, limit)).fetchall()
    return table_from_rows(rows, HISTORY_SCHEMA)


def current_listings(conn: psycopg.Connection, after: datetime) -> pa.Table:
    """Live listings of the events that start after ``after`` (``HISTORY_SCHEMA``, the last
    sighting as ``observed_at``)."""
    with conn.cursor() as cur:
        rows = cur.execute(_CURRENT, (after,)).fetchall()
    return table_from_rows(rows, HISTORY_SCHEMA)
