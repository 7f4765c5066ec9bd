"""Bounded windows of Ray calls a crawl worker keeps in flight (Ray's limit-pending-tasks
pattern).

``WriteWindow``: one shard's chunks sent to ``IngestWriter``s and not yet committed; the
shard is acknowledged only once it is empty. ``DownstreamWindow``: the deal-scoring and
change-relay calls of committed chunks, shared by a worker's shards and not part of any
shard's ack (a refresh does not wait for scoring or matching).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from engine.crawl.coalesce import Chunk
    from engine.crawl.shards import ShardResult
    from engine.ingest_writer import WriteSummary

logger = logging.getLogger(__name__)

#: called with each committed write: its summary, a reference to what changed, and the
#: reference to its listings (None for gone marking)
OnCommit = Callable[["WriteSummary", Any, Any], None]


class WriteWindow:
    """A shard's writes: at most ``limit`` chunks in flight; each commit is added to the
    shard's result and handed to ``on_commit``."""

    def __init__(self, next_writer: Callable[[], Any], limit: int, result: ShardResult,
                 on_commit: OnCommit) -> None:
        self._next_writer = next_writer
        self._limit = limit
        self._result = result
        self._on_commit = on_commit
        self._inflight: dict[Any, tuple[Any, Any]] = {}  # summary ref -> (listings, changes)

    def submit(self, chunk: Chunk, *, complete: bool = False) -> None:
        """Send one chunk to a writer (waiting first while the window is full).

        ``complete``: the chunk holds every listing of each of its events (a whole shard of
        fully crawled events), so the writer marks the missing ones gone in the same
        transaction, from the state it reads anyway (one ``mark_gone`` statement per event,
        comparing against the seen ids, cost more than the listings' own writes).
        """
        import ray

        ref = ray.put(chunk.listings)  # once: the writer and the scorer share this copy
        done, changes = self._next_writer().write.options(num_returns=2).remote(
            ref, chunk.stats, chunk.rejects, complete)
        self._inflight[done] = (ref, changes)
        self._result.batches += 1
        while len(self._inflight) >= self._limit:
            self._drain_one()

    def drain(self) -> None:
        """Wait until every chunk sent is committed (raises a write's error)."""
        while self._inflight:
            self._drain_one()

    def _drain_one(self) -> None:
        import ray

        ready, _ = ray.wait(list(self._inflight), num_returns=1)
        for done in ready:
            ref, changes = self._inflight.pop(done)
            summary: WriteSummary = ray.get(done)  # raises: the shard is re-run
            self._result.add(summary)
            self._on_commit(summary, changes, ref)

    def mark_gone(self, marketplace: str, seen: dict[str, list[str]],
                  observed_at: datetime) -> None:
        """After the writes: per completely crawled event, its listings not ``seen``
        (event id -> listing ids) are gone."""
        import ray

        refs = [self._next_writer().mark_gone.options(num_returns=2).remote(
            marketplace, eid, ids, observed_at) for eid, ids in seen.items()]
        for done, changes in refs:
            summary: WriteSummary = ray.get(done)
            self._result.add(summary)
            self._on_commit(summary, changes, None)


class DownstreamWindow:
    """Scoring and change-relay calls: at most ``limit`` in flight; a failure is counted
    (``score_errors`` / ``hook_errors`` in ``progress``), the commit it follows stands."""

    def __init__(self, limit: int, progress: dict[str, int]) -> None:
        self._limit = limit
        self._progress = progress
        self._lock = threading.Lock()  # the worker's shards share the window
        self._refs: dict[Any, str] = {}  # call in flight -> "score" or "hook"

    def submit(self, kind: str, call: Callable[[], Any]) -> None:
        """Make the call (``kind``: "score" or "hook"), waiting first while the window is
        full."""
        import ray

        with self._lock:
            self._refs[call()] = kind
            while len(self._refs) >= self._limit:
                self._reap(ray.wait(list(self._refs), num_returns=1)[0])

    def flush(self, timeout: float) -> int:
        """Wait for every call in flight; returns how many are still running."""
        import ray

        with self._lock:
            if self._refs:
                ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs),
                                    timeout=timeout)
                self._reap(ready)
            return len(self._refs)

    def _reap(self, ready: list[Any]) -> None:
        import ray

        for done in ready:
            kind = self._refs.pop(done)
            try:
                value = ray.get(done)
            except Exception as err:  # derived work: count it, the commit stands
                self._progress[f"{kind}_errors"] += 1
                logger.warning("%(kind)s call failed: %(err)s", {"kind": kind, "err": err})
                continue
            if kind == "score":
                self._progress["scored"] += value.rows
                self._progress["deals"] += value.deals
            else:
                self._progress["hook_errors"] += value
