"""``IngestWriter`` actor: commits batches through ``storage.ingest`` and publishes changes.

Each call is one transaction (events, or one coalesced listings chunk with its stats and
rejects); the call returns only after commit, which is the acknowledgement the crawl
worker waits for. Writes are idempotent on ``(marketplace, listing_id, observed_at)``, so
Ray re-running a call on a restarted writer (``max_task_retries``) duplicates nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.hooks import load_hooks

if TYPE_CHECKING:
    import pyarrow as pa

    from storage.records import EventRecord, PriceStats, Reject

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class WriteSummary:
    """What one committed write changed (counts only: cheap to send back)."""

    rows: int = 0
    written: int = 0
    new_listings: int = 0
    price_changes: int = 0
    gone: int = 0
    quarantined: int = 0
    hook_errors: int = 0
    seconds: float = 0.0


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return 0


def summarize(result: Any, rows: int) -> WriteSummary:
    """Counts from whatever ``write_snapshots`` returned (tolerant of its exact shape)."""
    get = (result.get if isinstance(result, dict)
           else lambda k, d=None: getattr(result, k, d))
    written = get("inserted", None)
    if written is None:
        written = get("written", rows)
    return WriteSummary(
        rows=rows, written=_count(written), new_listings=_count(get("new_listings", 0)),
        price_changes=_count(get("price_changes", 0)), gone=_count(get("gone", 0)),
        quarantined=_count(get("quarantined", 0)))


class IngestWriter:
    """Writes through one small connection pool; run as a Ray actor (see ``engine.actors``)."""

    def __init__(self, database_url: str, hook_specs: list[str] | None = None,
                 pool_size: int = 2) -> None:
        from storage.db import pool

        self._url = database_url
        self._pool = pool(database_url, min_size=1, max_size=pool_size)
        self._hooks = load_hooks(hook_specs, database_url)
        self.counts: Counter[str] = Counter()

    def pid(self) -> int:
        return os.getpid()

    def write_events(self, events: list[EventRecord]) -> int:
        """Upsert events (before any listing that refers to them is written)."""
        from storage.events import upsert_events

        if not events:
            return 0
        with self._pool.connection() as conn:
            ids = upsert_events(conn, events)
        self.counts["events"] += len(events)
        return len(ids)

    def write(self, listings: pa.RecordBatch, stats: list[PriceStats] | None = None,
              rejects: list[Reject] | None = None) -> WriteSummary:
        """Commit one chunk; then hand what changed to the hooks."""
        from storage.ingest import write_price_stats, write_rejects, write_snapshots

        t0 = time.monotonic()
        result = None
        with self._pool.connection() as conn:
            if listings.num_rows:
                result = write_snapshots(conn, listings)
            if stats:
                write_price_stats(conn, stats)
            if rejects:
                write_rejects(conn, rejects)
        summary = summarize(result, listings.num_rows)
        if result is not None:
            summary.hook_errors = self._publish(result)
        summary.seconds = time.monotonic() - t0
        self.counts["batches"] += 1
        self.counts["rows"] += listings.num_rows
        return summary

    def mark_gone(self, marketplace: str, source_event_id: str, seen_listing_ids: list[str],
                  observed_at: datetime) -> WriteSummary:
        """Listings of a completely crawled event that were not seen are gone."""
        from storage.ingest import mark_gone

        with self._pool.connection() as conn:
            result = mark_gone(conn, marketplace, source_event_id, seen_listing_ids,
                               observed_at)
        summary = WriteSummary(gone=_count(getattr(result, "gone", result)))
        if result is not None:
            summary.hook_errors = self._publish(result)
        return summary

    def _publish(self, changes: Any) -> int:
        errors = 0
        for hook in self._hooks:
            try:
                hook.on_changes(changes)
            except Exception:  # one hook's bug must not fail a committed write
                errors += 1
                self.counts["hook_errors"] += 1
                logger.exception("change hook %(hook)r failed", {"hook": hook})
        return errors

    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        self._pool.close()
