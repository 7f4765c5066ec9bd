"""``PagePump``: a shard's pages from Scrapy's reactor thread to the shard's thread, with
backpressure.

The spider's items arrive on the reactor thread and wait on a queue. When ``queue_pages``
of them wait (the writers fall behind), the crawl's engine is paused; it resumes once the
shard's thread has taken the queue down to half. A slow database slows the crawl instead of
filling memory.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.crawler import Crawler

    from engine.crawl.scrapy_host import ScrapyHost


class _Done:
    """The crawl closed (``failure``: why it failed, or None)."""

    def __init__(self, failure: Any) -> None:
        self.failure = failure


class PagePump:
    """One shard's crawl and its page queue; iterate it for the pages, in arrival order."""

    def __init__(self, host: ScrapyHost, shard_id: str, *, queue_pages: int, timeout: float,
                 progress: dict[str, int]) -> None:
        self._host = host
        self._shard_id = shard_id
        self._limit = queue_pages
        self._timeout = timeout
        self._progress = progress  # the worker's counters: "paused", "queued_pages"
        self._pages: queue.Queue[Any] = queue.Queue()
        self._paused = False
        self._crawler: Crawler | None = None

    def start(self, spidercls: type, kwargs: dict[str, Any]) -> Crawler:
        """Start the spider run on the host's reactor."""
        self._crawler = self._host.crawl(spidercls, kwargs, self._on_item,
                                         lambda _c, failure: self._pages.put(_Done(failure)))
        return self._crawler

    def _on_item(self, item: Any) -> None:  # reactor thread
        self._pages.put(item)
        if (self._pages.qsize() >= self._limit and not self._paused
                and self._crawler is not None):
            engine = getattr(self._crawler, "engine", None)
            if engine is not None and engine.running:
                engine.pause()
                self._paused = True
                self._progress["paused"] += 1

    def __iter__(self) -> Iterator[Any]:
        """Each item until the crawl closes.

        Raises:
            TimeoutError: nothing arrived for ``timeout`` seconds.
            RuntimeError: the crawl failed.
        """
        while True:
            try:
                item = self._pages.get(timeout=self._timeout)
            except queue.Empty:
                raise TimeoutError(f"shard {self._shard_id} produced nothing for "
                                   f"{self._timeout:.0f}s; stopped it") from None
            self._progress["queued_pages"] = self._pages.qsize()
            if self._paused and self._pages.qsize() <= self._limit // 2:
                self._paused = False
                self._host.resume(self._crawler)
            if isinstance(item, _Done):
                if item.failure is not None:
                    raise RuntimeError(f"shard {self._shard_id} crawl failed: "
                                       f"{item.failure.getErrorMessage()}")
                return
            yield item

    def stop(self) -> None:
        """Stop the crawl (on a failure of the shard: nothing more is taken)."""
        if self._crawler is not None:
            self._host.stop(self._crawler)

    def stats(self) -> dict[str, Any]:
        """The crawl's Scrapy stats."""
        stats = self._crawler.stats if self._crawler is not None else None
        return stats.get_stats() if stats else {}
