"""``IngestWriter`` actor: commits batches through ``storage.ingest`` and publishes changes.

Each call is one transaction (events, or one coalesced listings chunk with the post-commit
work it calls for: its deal scoring and its changes' alert matching, ``storage.post_commit``;
then its stats and rejects); the call returns only after commit, which is the
acknowledgement the crawl worker waits for. Writes are idempotent on ``(marketplace,
listing_id, observed_at)``, so Ray re-running a call on a restarted writer
(``max_task_retries``) duplicates nothing.

A listings chunk is scored here, before it is written (the engine's ``ModelScorer``: the
latest saved model, the database's event context), and committed with its scores: each new
listing is written once, already scored, and no scoring is left to do after commit. With no
model saved yet, the first writer to need one trains it on the database's history or, on a
new install, on its own chunk, and saves it; the others wait for it and load it. When there
are too few listings for that, or scoring fails, the chunk is written unscored and its
scoring recorded as post-commit work, which the crawl worker hands to a deal scorer as
before (``WriteSummary.scored`` is 0).

``write`` and ``mark_gone`` return two values (call them with ``num_returns=2``): a small
``WriteSummary`` and what changed, which the crawl worker forwards by reference to the
change relay (the alert matcher) without fetching it. A re-sent batch reports the same
changes again (storage's replay rule), so a change lost with a dead worker comes back when
its shard is re-run, and the matcher's dedupe keeps alerts exactly-once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from engine.gc_tuning import tune_for_bulk_data

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg
    import pyarrow as pa

    from engine.deals.service import ModelScorer
    from storage.ingest import IngestResult
    from storage.records import EventRecord, PriceStats, Reject

logger = logging.getLogger(__name__)

_EVENT_ATTEMPTS = 5
_T = TypeVar("_T")


@dataclasses.dataclass(slots=True, kw_only=True)
class WriteCounts:
    """What committed writes changed, counted: one write's, or a shard's sum of them."""

    written: int = 0  # snapshot rows the database accepted (new keys)
    new_listings: int = 0
    price_changes: int = 0
    gone: int = 0
    quarantined: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.new_listings or self.price_changes or self.gone)

    def add(self, other: WriteCounts) -> None:
        """Add ``other``'s counts to these."""
        for field in dataclasses.fields(WriteCounts):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass(slots=True, kw_only=True)
class WriteSummary(WriteCounts):
    """What one committed write changed (counts only: cheap to send back)."""

    rows: int = 0  # listings sent
    seconds: float = 0.0
    work_id: int | None = None  # its post-commit work (``storage.post_commit``)
    scored: int = 0  # listings scored and stored with their scores in the write
    deals: int = 0  # of them, deals (``engine.deals.actor.DEAL_THRESHOLD``)

    @classmethod
    def of(cls, result: IngestResult | None, rows: int) -> WriteSummary:
        """The counts of what ``write_snapshots`` returned (None: no listings were sent)."""
        if result is None:
            return cls(rows=rows)
        return cls(rows=rows, written=result.inserted, work_id=result.work_id,
                   new_listings=result.new_listings.num_rows,
                   price_changes=result.price_changes.num_rows, gone=result.gone.num_rows,
                   quarantined=result.quarantined)


class IngestWriter:
    """Writes through one small connection pool; run as a Ray actor (see ``engine.actors``)."""

    def __init__(self, database_url: str, pool_size: int = 2, *, score: bool = True,
                 models_dir: str | Path | None = None) -> None:
        from storage.db import pool

        self._pool = pool(database_url, min_size=1, max_size=pool_size)
        self.counts: Counter[str] = Counter()
        self._scorer: ModelScorer | None = None
        if score:  # made here, at actor start (loading the model code takes seconds)
            from engine.deals.service import ModelScorer

            self._scorer = ModelScorer(database_url, directory=models_dir)
        tune_for_bulk_data()

    def pid(self) -> int:
        return os.getpid()

    def write_events(self, events: list[EventRecord]) -> int:
        """Upsert events (before any listing that refers to them is written)."""
        from storage.events import upsert_events

        if not events:
            return 0
        ids = self._on_events(lambda conn: upsert_events(conn, events))
        self.counts["events"] += len(events)
        return len(ids)

    def touch_events(self, sources: list[tuple[str, str]]) -> int:
        """Move the last sighting of known event sources ``(marketplace, source event id)``
        seen again as they were last written; returns how many were found."""
        from storage.events import touch_sources

        if not sources:
            return 0
        touched = self._on_events(lambda conn: touch_sources(conn, sources))
        self.counts["events_touched"] += touched
        return touched

    def _on_events(self, work: Callable[[psycopg.Connection], _T]) -> _T:
        """``work`` on a pooled connection, done again when it lost a deadlock: two shards
        (say Ticketmaster's and SeatGeek's) update the same canonical events in different
        orders, and the loser is rolled back whole."""
        import psycopg
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_incrementing,
        )

        def connected() -> _T:
            with self._pool.connection() as conn:
                return work(conn)

        retrying = Retrying(
            retry=retry_if_exception_type((psycopg.errors.DeadlockDetected,
                                           psycopg.errors.SerializationFailure)),
            stop=stop_after_attempt(_EVENT_ATTEMPTS), wait=wait_incrementing(0.05, 0.05),
            before_sleep=lambda _: self.counts.update(["event_deadlocks"]), reraise=True)
        return retrying(connected)

    def write(self, listings: pa.RecordBatch, stats: list[PriceStats] | None = None,
              rejects: list[Reject] | None = None, complete: bool = False
              ) -> tuple[WriteSummary, IngestResult | None]:
        """Commit one chunk; returns (summary, what changed). ``complete``: the chunk holds
        every listing of its events, so listings of theirs it lacks are marked gone."""
        from storage.ingest import write_price_stats, write_rejects, write_snapshots

        t0 = time.monotonic()
        result = None
        scored = self._scored(listings) if listings.num_rows else None
        with self._pool.connection() as conn:
            if listings.num_rows:  # its matching (and scoring, if not done) recorded with it
                result = write_snapshots(conn, listings, complete=complete, post_commit=True,
                                         scores=scored)
            if stats:
                write_price_stats(conn, stats)
            if rejects:
                write_rejects(conn, rejects)
        summary = WriteSummary.of(result, listings.num_rows)
        if scored is not None and result is not None and result.scored:
            summary.scored, summary.deals = scored.num_rows, _deals(scored)
        summary.seconds = time.monotonic() - t0
        self.counts["batches"] += 1
        self.counts["rows"] += listings.num_rows
        return summary, result

    def _scored(self, listings: pa.RecordBatch) -> pa.RecordBatch | None:
        """The chunk with its deal scores; None (scored after commit instead) when
        scoring is off or fails, or there is no model and too few listings to train one.
        A new install's first chunk trains the first model here, before it is written
        (``ModelScorer.ensure_model``: one writer trains, the others load it), so no
        chunk of a first crawl is written twice for want of a model."""
        if self._scorer is None:
            return None
        try:
            if not self._scorer.ensure_model(listings):
                return None
            return self._scorer.score(listings)
        except Exception as err:  # the write must not wait on the model: score later
            self.counts["score_errors"] += 1
            logger.warning("scoring before the write failed, scoring after commit: "
                           "%(err)s", {"err": err})
            return None

    def mark_gone(self, marketplace: str, source_event_id: str, seen_listing_ids: list[str],
                  observed_at: datetime) -> tuple[WriteSummary, IngestResult]:
        """Listings of a completely crawled event that were not seen are gone (their alert
        matching is recorded with them)."""
        from storage.ingest import mark_gone_recorded

        with self._pool.connection() as conn:
            result = mark_gone_recorded(conn, marketplace, source_event_id, seen_listing_ids,
                                        observed_at)
        return WriteSummary(gone=result.gone.num_rows, work_id=result.work_id), result

    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        self._pool.close()


def _deals(scored: pa.RecordBatch) -> int:
    import pyarrow.compute as pc

    from engine.deals.actor import DEAL_THRESHOLD

    return int(pc.sum(pc.greater_equal(scored.column("deal_score"), DEAL_THRESHOLD)).as_py()
               or 0)
