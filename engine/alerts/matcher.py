"""The alert matcher: each committed batch's changes against every active rule.

``match`` folds what a writer or scorer returned into one table of changed listings
(``engine.alerts.changes``) and hands it to ``storage.alerts.match_changes``, which matches
it set-based in one transaction and writes the outbox. ``AlertMatcher`` is that as a change
hook (``engine.alerts.hooks``), with a small connection pool of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from engine.alerts.changes import normalize
from storage.alerts import match_changes
from storage.db import pool, resolve_database_url

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)


def match(conn: psycopg.Connection[Any], changes: Any) -> dict[str, int]:
    """Match ``changes`` (an ``IngestResult``, scored batch or gone table) in one
    transaction; returns counts: ``hits``, ``matches`` (new, after dedupe), ``outbox``."""
    ch = normalize(changes)
    if ch.empty:
        return {"hits": 0, "matches": 0, "outbox": 0}
    counts = match_changes(conn, ch.listings, ch.gone_events, ch.gone_at)
    return dataclasses.asdict(counts)


class AlertMatcher:
    """The change hook (``engine.alerts.hooks``): matches each committed batch after commit."""

    def __init__(self, database_url: str | None = None) -> None:
        self._pool = pool(database_url or resolve_database_url(), min_size=1, max_size=2)
        self.totals: dict[str, int] = {"batches": 0, "hits": 0, "matches": 0, "outbox": 0}

    def on_changes(self, changes: Any) -> None:
        t0 = time.perf_counter()
        with self._pool.connection() as conn:
            counts = match(conn, changes)
        self.totals["batches"] += 1
        for k, v in counts.items():
            self.totals[k] += v
        if counts["matches"]:
            logger.debug("alert matcher: %(m)d new matches, %(o)d outbox rows in %(s).3fs",
                         {"m": counts["matches"], "o": counts["outbox"],
                          "s": time.perf_counter() - t0})

    def close(self) -> None:
        self._pool.close()


def create_matcher(database_url: str | None = None) -> AlertMatcher:
    """The factory ``engine.alerts.hooks`` loads (``engine.alerts:create_matcher``)."""
    return AlertMatcher(database_url)
