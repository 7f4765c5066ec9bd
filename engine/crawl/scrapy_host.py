"""One long-lived Scrapy runtime in a background thread, fed crawl requests from others.

Twisted's reactor cannot be restarted, so a crawl worker starts it once (asyncio reactor,
as scrapy-playwright needs) in a daemon thread and runs every shard as a new ``Crawler``
on it. Items reach the caller through a callback run on the reactor thread; the caller
pauses and resumes a crawl's engine to push back when its consumers fall behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.crawler import Crawler, CrawlerRunner

logger = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


class ScrapyHost:
    """Owns the reactor thread and a ``CrawlerRunner`` with the base ``settings``."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = dict(settings)
        self._settings["TWISTED_REACTOR"] = ASYNCIO_REACTOR
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: CrawlerRunner | None = None
        self._reactor: Any = None
        self._thread = threading.Thread(target=self._main, name="scrapy-reactor", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise RuntimeError(f"could not start Scrapy's reactor: {self._error}") from self._error

    def _main(self) -> None:
        try:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            from twisted.internet import asyncioreactor

            asyncioreactor.install(eventloop=loop)
            from scrapy.crawler import CrawlerRunner
            from scrapy.settings import Settings
            from twisted.internet import reactor

            base = Settings()
            base.setmodule(self._settings.pop("_SETTINGS_MODULE", "crawler.settings"),
                           priority="project")
            base.update(self._settings, priority="cmdline")
            self._runner = CrawlerRunner(base)
            self._reactor = reactor
        except BaseException as err:  # reported to the constructor's caller
            self._error = err
            self._ready.set()
            return
        reactor.callWhenRunning(self._ready.set)
        reactor.run(installSignalHandlers=False)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the reactor thread and return its result (blocking)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def _run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as err:
                future.set_exception(err)

        self._reactor.callFromThread(_run)
        return future.result(timeout=60)

    def crawl(self, spidercls: type, kwargs: dict[str, Any],
              on_item: Callable[[Any], None], on_done: Callable[[Crawler, Any], None],
              settings: dict[str, Any] | None = None) -> Crawler:
        """Start one spider run; ``on_item`` and ``on_done`` run on the reactor thread.

        ``on_done(crawler, failure_or_none)`` fires once the crawl has closed.
        """

        def _start() -> Crawler:
            from scrapy import signals

            assert self._runner is not None
            crawler = self._runner.create_crawler(spidercls)
            if settings:
                crawler.settings.update(settings, priority="cmdline")
            crawler.signals.connect(lambda item, **_: on_item(item), signals.item_scraped,
                                    weak=False)
            deferred = self._runner.crawl(crawler, **kwargs)
            deferred.addCallbacks(lambda _: on_done(crawler, None),
                                  lambda failure: on_done(crawler, failure))
            return crawler

        return self.call(_start)

    def resume(self, crawler: Crawler) -> None:
        self._reactor.callFromThread(_engine_call, crawler, "unpause")

    def stop(self, crawler: Crawler) -> None:
        self._reactor.callFromThread(crawler.stop)

    def close(self) -> None:
        """Stop every crawl and the reactor (the process should exit afterwards)."""
        if self._reactor is None or not self._thread.is_alive():
            return

        def _shutdown() -> None:
            assert self._runner is not None
            d = self._runner.stop()
            d.addBoth(lambda _: self._reactor.stop())

        self._reactor.callFromThread(_shutdown)
        self._thread.join(10)


def _engine_call(crawler: Crawler, name: str) -> None:
    engine = getattr(crawler, "engine", None)
    if engine is not None and engine.running:
        getattr(engine, name)()
