"""``CrawlWorker`` actor: one long-lived Scrapy runtime; runs shards and streams their pages.

Pages arrive from the reactor thread on a queue; the shard's thread coalesces them into
chunks, puts each chunk in Ray's object store and sends it to an ``IngestWriter``, keeping
at most ``max_inflight`` writes outstanding (Ray's limit-pending-tasks pattern). When the
writers fall behind, the queue fills and the crawl's engine is paused: a slow database
slows the crawl instead of filling memory. A shard returns (is acknowledged) only once
every write of it has committed. Committed chunks then go to the deal scorers, and what
changed to the change relay (alert matcher), through a second bounded window that is not
part of the ack (a refresh does not wait for scoring or matching).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from engine.crawl.coalesce import Coalescer
from engine.crawl.shards import EventSeen, Shard, ShardResult

if TYPE_CHECKING:
    from engine.crawl.scrapy_host import ScrapyHost
    from engine.ingest_writer import WriteSummary

logger = logging.getLogger(__name__)

_DONE = object()
#: Scrapy stats that mean something went wrong in a shard
_ERROR_STATS = ("ripcity/failed_requests", "ripcity/bad_format", "spider_exceptions/count")


def _actors(names: list[str]) -> list[Any]:
    import ray

    return [ray.get_actor(n) if isinstance(n, str) else n for n in names]


class _Done:
    def __init__(self, failure: Any) -> None:
        self.failure = failure


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
        self._scorers = _actors(scorers or [])
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
        self._down_lock = threading.Lock()
        self._down_refs: dict[Any, str] = {}  # scoring / change-hook calls in flight

    def _scrapy(self) -> ScrapyHost:
        with self._lock:
            if self._host is None:
                from engine.crawl.scrapy_host import ScrapyHost

                self._host = ScrapyHost(self._settings)
            return self._host

    def pid(self) -> int:
        return os.getpid()

    def ready(self) -> str:
        self._scrapy()
        return self.worker_id

    def progress(self) -> dict[str, int]:
        return dict(self._progress)

    def _next_writer(self) -> Any:
        return self._pick(self._writers)

    def run_shard(self, shard: Shard) -> ShardResult:
        """Crawl one shard to the end and commit all of it; raise if it could not."""
        import ray

        from crawler.spiders import SPIDERS

        t0 = time.monotonic()
        spidercls = SPIDERS.get(shard.spider)
        if spidercls is None:
            raise ValueError(f"unknown spider {shard.spider!r}; known: {sorted(SPIDERS)}")
        host = self._scrapy()
        result = ShardResult(shard.shard_id, shard.spider)
        pages: queue.Queue[Any] = queue.Queue()
        state = {"paused": False}
        crawler_box: list[Any] = []

        def on_item(item: Any) -> None:  # reactor thread
            pages.put(item)
            if pages.qsize() >= self._queue_pages and not state["paused"] and crawler_box:
                engine = getattr(crawler_box[0], "engine", None)
                if engine is not None and engine.running:
                    engine.pause()
                    state["paused"] = True
                    self._progress["paused"] += 1

        crawler = host.crawl(spidercls, shard.spider_kwargs(self._city), on_item,
                             lambda _c, failure: pages.put(_Done(failure)))
        crawler_box.append(crawler)
        coalescer = Coalescer(self._chunk_rows, shard.observed_at,
                              track_ids=not shard.discover_only)
        inflight: dict[Any, Any] = {}  # summary ref -> (listings ref, changes ref)
        written_events: set[tuple[str, str]] = set()
        discovered: dict[str, EventSeen] = {}
        complete: set[str] = set()
        try:
            while True:
                try:
                    item = pages.get(timeout=self._timeout)
                except queue.Empty:
                    host.stop(crawler)
                    raise TimeoutError(f"shard {shard.shard_id} produced nothing for "
                                       f"{self._timeout:.0f}s; stopped it") from None
                self._progress["queued_pages"] = pages.qsize()
                if state["paused"] and pages.qsize() <= self._queue_pages // 2:
                    state["paused"] = False
                    host.resume(crawler)
                if isinstance(item, _Done):
                    result.crawl_seconds = time.monotonic() - t0
                    if item.failure is not None:
                        raise RuntimeError(f"shard {shard.shard_id} crawl failed: "
                                           f"{item.failure.getErrorMessage()}")
                    break
                if not hasattr(item, "listings"):
                    result.errors += 1
                    result.error_messages.append(f"unexpected item {type(item).__name__}")
                    continue
                result.pages += 1
                result.listings += item.listings.num_rows
                result.rejects += len(item.rejects)
                self._progress["pages"] += 1
                self._progress["listings"] += item.listings.num_rows
                new_events = [e for e in item.events
                              if (e.marketplace, e.source_event_id) not in written_events]
                if new_events:  # events must exist before listings that point at them
                    t_ev = time.monotonic()
                    ray.get(self._next_writer().write_events.remote(new_events))
                    result.events_seconds += time.monotonic() - t_ev
                    for e in new_events:
                        written_events.add((e.marketplace, e.source_event_id))
                        discovered.setdefault(e.source_event_id, EventSeen(
                            e.marketplace, e.source_event_id, e.starts_at))
                complete.update(getattr(item, "complete_events", None) or ())
                chunk = coalescer.add(item)
                if chunk is not None:
                    self._submit(chunk, inflight, result)
            whole = result.batches == 0  # the shard's listings fit in one chunk
            chunk = coalescer.flush()
            gone_in_write: set[str] = set()
            if chunk is not None and (chunk.listings.num_rows or chunk.stats or chunk.rejects):
                in_chunk = set(coalescer.tallies)
                if (whole and not shard.discover_only and in_chunk
                        and in_chunk <= complete):
                    gone_in_write = in_chunk  # "gone" found from the write's state read
                self._submit(chunk, inflight, result, complete=bool(gone_in_write))
            while inflight:
                self._drain(inflight, result)
            self._mark_gone(shard, coalescer, complete - gone_in_write, result)
        except BaseException:
            host.stop(crawler)
            raise
        stats = crawler.stats.get_stats() if crawler.stats else {}
        result.errors += sum(int(stats.get(k, 0) or 0) for k in _ERROR_STATS)
        result.events = self._events_seen(shard, coalescer, discovered)
        result.seconds = time.monotonic() - t0
        self._progress["shards"] += 1
        return result

    def _submit(self, chunk: Any, inflight: dict[Any, Any], result: ShardResult, *,
                complete: bool = False) -> None:
        """Send one chunk to a writer. ``complete``: the chunk holds every listing of each
        of its events (a whole shard of fully crawled events), so the writer marks the
        missing ones gone in the same transaction, from the state it reads anyway (one
        ``mark_gone`` statement per event, comparing against the seen ids, cost more than
        the listings' own writes)."""
        import ray

        ref = ray.put(chunk.listings)  # once: the writer and the scorer share this copy
        done, changes = self._next_writer().write.options(num_returns=2).remote(
            ref, chunk.stats, chunk.rejects, complete)
        inflight[done] = (ref, changes)
        result.batches += 1
        while len(inflight) >= self._max_inflight:
            self._drain(inflight, result)

    def _drain(self, inflight: dict[Any, Any], result: ShardResult) -> None:
        import ray

        ready, _ = ray.wait(list(inflight), num_returns=1)
        for done in ready:
            ref, changes = inflight.pop(done)
            summary: WriteSummary = ray.get(done)  # raises: the shard is re-run
            result.written += summary.written
            result.new_listings += summary.new_listings
            result.price_changes += summary.price_changes
            result.quarantined += summary.quarantined
            result.gone += summary.gone
            self._progress["committed"] += summary.rows
            self._after_commit(summary, changes, ref)

    def _after_commit(self, summary: WriteSummary, changes: Any, listings: Any) -> None:
        if self._relays and summary.changed:
            relay = self._pick(self._relays)
            self._downstream("hook", lambda: relay.on_changes.remote(changes))
        if self._scorers and listings is not None and summary.rows:
            scorer = self._pick(self._scorers)
            self._downstream("score", lambda: scorer.score.remote(listings))

    def _downstream(self, kind: str, call: Any) -> None:
        """Submit a scoring or change-hook call; bounded, but not part of the shard's ack."""
        import ray

        with self._down_lock:
            self._down_refs[call()] = kind
            while len(self._down_refs) >= self._max_inflight * 4:
                self._reap(ray.wait(list(self._down_refs), num_returns=1)[0])

    def _reap(self, ready: list[Any]) -> None:
        import ray

        for done in ready:
            kind = self._down_refs.pop(done)
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

    def flush_downstream(self, timeout: float = 600.0) -> int:
        """Wait until every committed chunk is scored and its changes matched."""
        import ray

        with self._down_lock:
            if self._down_refs:
                ready, _ = ray.wait(list(self._down_refs), num_returns=len(self._down_refs),
                                    timeout=timeout)
                self._reap(ready)
            return len(self._down_refs)

    def _pick(self, pool: list[Any]) -> Any:
        with self._lock:
            self._rr += 1
            return pool[self._rr % len(pool)]

    def _mark_gone(self, shard: Shard, coalescer: Coalescer, complete: set[str],
                   result: ShardResult) -> None:
        import ray

        if shard.discover_only or not complete:
            return
        refs = [self._next_writer().mark_gone.options(num_returns=2).remote(
            shard.marketplace, eid, coalescer.seen_ids(eid), shard.observed_at)
            for eid in sorted(complete)]
        for done, changes in refs:
            summary: WriteSummary = ray.get(done)
            result.gone += summary.gone
            self._after_commit(summary, changes, None)

    @staticmethod
    def _events_seen(shard: Shard, coalescer: Coalescer,
                     discovered: dict[str, EventSeen]) -> list[EventSeen]:
        for eid, tally in coalescer.tallies.items():
            seen = discovered.setdefault(eid, EventSeen(shard.marketplace, eid, None))
            seen.listings, seen.lowest_cents = tally.count, tally.lowest_cents
        for eid in shard.event_ids:
            discovered.setdefault(eid, EventSeen(shard.marketplace, eid, None))
        return list(discovered.values())

    def shutdown(self) -> None:
        if self._host is not None:
            self._host.close()
