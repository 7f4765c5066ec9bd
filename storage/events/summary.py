"""The per-event search summary (``api_event_summary``): get-in price, listing count, best deal.

Search reads it instead of aggregating every listing of every event. Writes to
``listings_current`` NOTIFY the changed event ids (``storage.listings.listen_for_changes``);
whoever serves search recomputes those events' summaries with :func:`refresh_summaries`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.events import _sql

if TYPE_CHECKING:
    import psycopg


async def refresh_summaries(conn: psycopg.AsyncConnection[Any],
                            event_ids: list[int] | None) -> int:
    """Recompute the search summaries of these events (None: of every event); returns how
    many were written."""
    if event_ids is None:
        cur = await conn.execute(_sql.REFRESH_ALL_SUMMARIES)
    else:
        cur = await conn.execute(_sql.REFRESH_SUMMARIES, (event_ids,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0
