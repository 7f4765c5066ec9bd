"""``CrawlWorker`` actor: one long-lived Scrapy runtime; runs shards and streams their pages.

A shard's run is a loop over its pages with four collaborators: the ``PagePump`` brings the
pages from the reactor thread and pauses the crawl when they pile up (a slow database slows
the crawl instead of filling memory); the ``EventPreWriter`` writes new and changed events
before their listings (an unchanged one is only touched, at the shard's end, once its last
sighting is ``RIPCITY_LAST_SEEN_RESOLUTION_S`` old); the ``Coalescer`` gathers pages into
chunks that the ``WriteWindow`` sends to ``IngestWriter``s, at most ``max_inflight`` at a
time; the ``CompletenessTracker`` says whose unseen listings are gone. A shard returns (is
acknowledged) only once every write of it has committed. Committed chunks then go to the
deal scorers, and what changed to the change relay (alert matcher), through the worker's
``DownstreamWindow``, which is not part of the ack (a refresh does not wait for scoring or
matching); a chunk the writer scored before its write (the usual case) needs no scorer.
Both are recorded as post-commit work in the batch's transaction, so what this worker does
not finish (it died, a call failed) the engine's ``PostCommitReaper`` does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from engine.crawl.coalesce import Coalescer
from engine.crawl.pump import PagePump
from engine.crawl.shard_events import CompletenessTracker, EventPreWriter, WrittenEvents
from engine.crawl.shards import Shard, ShardResult
from engine.crawl.windows import DownstreamWindow, WriteWindow
from engine.gc_tuning import tune_for_bulk_data
from storage.settings import get_storage_settings

if TYPE_CHECKING:
    from crawler.items import PageRecords
    from engine.crawl.scrapy_host import ScrapyHost
    from engine.ingest_writer import WriteSummary

logger = logging.getLogger(__name__)

#: Scrapy stats that mean something went wrong in a shard
_ERROR_STATS = ("ripcity/failed_requests", "ripcity/bad_format", "spider_exceptions/count")


def _actors(names: list[str]) -> list[Any]:
    import ray

    return [ray.get_actor(n) if isinstance(n, str) else n for n in names]


class CrawlWorker:
    """Runs shards on one Scrapy runtime; ``max_concurrency`` shards at a time (threads)."""

    def __init__(self, worker_id: str, scrapy_settings: dict[str, Any], writers: list[str],
                 scorers: list[str] | None = None, relays: list[str] | None = None, *,
                 chunk_rows: int = 5000,
                 max_inflight: int = 4, queue_pages: int = 64, city: str | None = None,
                 shard_timeout: float = 600.0) -> None:
        self.worker_id = worker_id
        self._settings = scrapy_settings
        # peers by actor name (handles in constructor arguments would pin them in the
        # object store for restarts; names are simply looked up again after a restart)
        self._writers = _actors(writers)
        # scorers are looked up when first needed: resolving a scorer's handle imports its
        # class, and with it the deal model's scikit-learn and SciPy (~100 MB per worker),
        # which a worker whose writers score every chunk (the usual case) never uses
        self._scorer_names = scorers or []
        self._scorers: list[Any] | None = None
        self._relays = _actors(relays or [])
        self._chunk_rows = chunk_rows
        self._max_inflight = max(1, max_inflight)
        self._queue_pages = max(2, queue_pages)
        self._city = city
        self._timeout = shard_timeout
        self._host: ScrapyHost | None = None
        self._lock = threading.Lock()
        self._rr = 0
        self._progress = {"pages": 0, "listings": 0, "committed": 0, "paused": 0,
                          "queued_pages": 0, "shards": 0, "scored": 0, "deals": 0,
                          "score_errors": 0, "hook_errors": 0}
        self._downstream = DownstreamWindow(self._max_inflight * 4, self._progress)
        self._events_written = WrittenEvents(get_storage_settings().last_seen_resolution_s)

    def _scrapy(self) -> ScrapyHost:
        with self._lock:
            if self._host is None:
                from engine.crawl.scrapy_host import ScrapyHost

                self._host = ScrapyHost(self._settings)
                tune_for_bulk_data()  # Scrapy and Twisted are loaded: freeze them too
            return self._host

    def pid(self) -> int:
        return os.getpid()

    def ready(self) -> str:
        self._scrapy()
        return self.worker_id

    def progress(self) -> dict[str, int]:
        return dict(self._progress)

    def run_shard(self, shard: Shard) -> ShardResult:
        """Crawl one shard to the end and commit all of it; raise if it could not."""
        from crawler.spiders import SPIDERS

        t0 = time.monotonic()
        spidercls = SPIDERS.get(shard.spider)
        if spidercls is None:
            raise ValueError(f"unknown spider {shard.spider!r}; known: {sorted(SPIDERS)}")
        result = ShardResult(shard.shard_id, shard.spider)
        pump = PagePump(self._scrapy(), shard.shard_id, queue_pages=self._queue_pages,
                        timeout=self._timeout, progress=self._progress)
        pump.start(spidercls, shard.spider_kwargs(self._city))
        coalescer = Coalescer(self._chunk_rows, shard.observed_at,
                              track_ids=not shard.discover_only)
        events = EventPreWriter(self._next_writer, self._events_written)
        completeness = CompletenessTracker(shard, coalescer)
        writes = WriteWindow(self._next_writer, self._max_inflight, result, self._after_commit)
        try:
            for page in pump:
                if not hasattr(page, "listings"):
                    result.errors += 1
                    result.error_messages.append(f"unexpected item {type(page).__name__}")
                    continue
                self._count_page(result, page)
                events.write_new(page.events)
                events.count(page.stats)
                completeness.note(page)
                chunk = coalescer.add(page)
                if chunk is not None:
                    writes.submit(chunk)
            result.crawl_seconds = time.monotonic() - t0
            whole = result.batches == 0  # the shard's listings fit in one chunk
            chunk = coalescer.flush()
            if chunk is not None and (chunk.listings.num_rows or chunk.stats or chunk.rejects):
                writes.submit(chunk, complete=completeness.last_write_is_complete(whole))
            events.touch_stale()
            writes.drain()
            writes.mark_gone(shard.marketplace, completeness.left_to_mark(), shard.observed_at)
        except BaseException:
            pump.stop()
            raise
        stats = pump.stats()
        result.errors += sum(int(stats.get(k, 0) or 0) for k in _ERROR_STATS)
        result.events = events.events_seen(shard, coalescer)
        result.events_seconds = events.seconds
        result.seconds = time.monotonic() - t0
        self._progress["shards"] += 1
        return result

    def _count_page(self, result: ShardResult, page: PageRecords) -> None:
        result.pages += 1
        result.listings += page.listings.num_rows
        result.rejects += len(page.rejects)
        self._progress["pages"] += 1
        self._progress["listings"] += page.listings.num_rows

    def _after_commit(self, summary: WriteSummary, changes: Any, listings: Any) -> None:
        """A write committed: count it, then hand its changes to a change relay and, unless
        the writer stored them scored, its listings to a deal scorer (through the
        downstream window, not part of the ack)."""
        self._progress["committed"] += summary.rows
        self._progress["scored"] += summary.scored
        self._progress["deals"] += summary.deals
        if self._relays and summary.changed:
            relay = self._pick(self._relays)
            self._downstream.submit("hook", lambda: relay.on_changes.remote(changes))
        if self._scorer_names and listings is not None and summary.rows and not summary.scored:
            if self._scorers is None:
                self._scorers = _actors(self._scorer_names)
            scorer = self._pick(self._scorers)
            work = summary.work_id
            self._downstream.submit("score",
                                    lambda: scorer.score_and_store.remote(listings, work))

    def flush_downstream(self, timeout: float = 600.0) -> int:
        """Wait until every committed chunk is scored and its changes matched."""
        return self._downstream.flush(timeout)

    def _next_writer(self) -> Any:
        return self._pick(self._writers)

    def _pick(self, pool: list[Any]) -> Any:
        with self._lock:
            self._rr += 1
            return pool[self._rr % len(pool)]

    def shutdown(self) -> None:
        if self._host is not None:
            self._host.close()
