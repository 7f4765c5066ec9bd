"""The deal model's inputs from the database: the scoring context and the training history.

The reads are storage's (``storage.deals``); this module opens the connection and turns the
event rows into a ``ScoringContext``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.deals.context import ScoringContext
from storage.db import connect
from storage.deals import event_context, snapshot_history

if TYPE_CHECKING:
    import pyarrow as pa


def load_context(database_url: str) -> ScoringContext:
    """Events (venue, start, category, performers) and marketplace ids of every event in
    the database."""
    with connect(database_url) as conn:
        events, sources = event_context(conn)
    return ScoringContext.build(events, sources)


def load_history(database_url: str, days: float = 30.0, limit: int = 2_000_000,
                 now: datetime | None = None) -> pa.Table:
    """The most recent ``limit`` listing snapshots of the last ``days`` (training input)."""
    since = (now or datetime.now().astimezone()) - timedelta(days=days)
    with connect(database_url) as conn:
        return snapshot_history(conn, since, limit)
