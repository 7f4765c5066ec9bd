"""Reading what the deal model needs from storage: event context and snapshot history.

Plain SQL over storage's tables (``events``, ``venues``, ``event_sources``,
``listing_snapshots``); rows come back as Arrow tables for the vectorised code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pyarrow as pa

from engine.deals.context import EVENT_CONTEXT_SCHEMA, SOURCE_MAP_SCHEMA, ScoringContext
from storage.records import LISTING_SCHEMA

logger = logging.getLogger(__name__)

_EVENTS_SQL = """
SELECT e.id::text, coalesce(v.name, '?') || '|' || coalesce(e.category, '?'), e.starts_at,
       e.category,
       array_to_string(e.performers, '|')
FROM events e LEFT JOIN venues v ON v.id = e.venue_id
"""
_SOURCES_SQL = "SELECT marketplace, source_event_id, event_id::text FROM event_sources"
_HISTORY_SQL = """
SELECT observed_at, marketplace, listing_id, source_event_id, section, "row", quantity,
       total_cents, delivery, kind, event_id::text
FROM listing_snapshots
WHERE observed_at >= %s
ORDER BY observed_at DESC
LIMIT %s
"""
_HISTORY_COLS = ("observed_at", "marketplace", "listing_id", "source_event_id", "section",
                 "row", "quantity", "total_cents", "delivery", "kind", "event_id")


def _rows_to_table(rows: list[tuple], names: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table({n: pa.array(list(c), schema.field(n).type)
                     for n, c in zip(names, cols, strict=True)})


def load_context(database_url: str) -> ScoringContext:
    """Events (venue key ``name|category``: a venue's seat map differs by configuration,
    start) and marketplace ids of every event in the database."""
    import psycopg

    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        events = cur.execute(_EVENTS_SQL).fetchall()
        sources = cur.execute(_SOURCES_SQL).fetchall()
    ev = _rows_to_table(events, tuple(EVENT_CONTEXT_SCHEMA.names), EVENT_CONTEXT_SCHEMA)
    src = _rows_to_table(sources, tuple(SOURCE_MAP_SCHEMA.names), SOURCE_MAP_SCHEMA)
    return ScoringContext.build(ev, src)


def load_history(database_url: str, days: float = 30.0, limit: int = 2_000_000,
                 now: datetime | None = None) -> pa.Table:
    """The most recent ``limit`` listing snapshots of the last ``days`` (training input)."""
    import psycopg

    since = (now or datetime.now().astimezone()) - timedelta(days=days)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        rows = cur.execute(_HISTORY_SQL, (since, limit)).fetchall()
    schema = LISTING_SCHEMA.append(pa.field("event_id", pa.string()))
    return _rows_to_table(rows, _HISTORY_COLS, schema)
