"""Saved-search matching: the events and listings a committed batch changed against every
alerting saved search, set-based, beside the rules.

Called by :func:`storage.alerts.matching.match_changes` inside its transaction, once the
batch's changes and touched events are in the session tables; the hits share the rules'
match log (dedupe), outbox (coalescing, quiet hours, SMS on premium only) and dispatchers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.alerts import _saved_sql as q
from storage.alerts.outbox import NOTIFY_CHANNEL

if TYPE_CHECKING:
    import psycopg


def match_saved_searches(cur: psycopg.Cursor[Any]) -> tuple[int, int, int]:
    """(hits, new matches, outbox rows) of the saved searches for the batch in the session
    tables; runs in the caller's transaction, NOTIFY delivered at commit."""
    cur.execute(q.DDL)
    cur.execute(q.CANDIDATES)
    cur.execute(q.ANALYZE_CANDIDATES)
    cur.execute(q.EVENT_HITS)
    cur.execute(q.LISTING_HITS)
    hits = int(cur.execute(q.COUNT_HITS).fetchone()[0])
    if not hits:
        return 0, 0, 0
    cur.execute(q.ANALYZE_HITS)  # row estimates for the write's joins (temp tables)
    matches, outbox = cur.execute(q.WRITE).fetchone()
    if outbox:
        cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return hits, int(matches), int(outbox)
