"""Run one crawl in this process and write what it yielded to a directory.

``python -m crawler.run_once SPIDER OUT_DIR [-a name=value ...] [-s NAME=value ...]``
collects every ``PageRecords`` through the ``item_scraped`` signal (the way the engine
does) and writes ``listings.parquet``, ``rejects.parquet``, ``summary.json`` (events,
price stats, complete events, shards, the close reason and the ``ripcity/...`` stats).

Scrapy's reactor cannot restart, so tests and benchmarks run each crawl in a subprocess
through this module.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from storage.records import LISTING_SCHEMA, REJECT_SCHEMA, records_to_batch


class Collector:
    """Accumulates the items of one crawl (connected to ``item_scraped``)."""

    def __init__(self) -> None:
        self.listings: list[pa.RecordBatch] = []
        self.rejects: list[Any] = []
        self.events: list[dict[str, Any]] = []
        self.stats: list[dict[str, Any]] = []
        self.complete: list[str] = []
        self.shards: set[str] = set()
        self.items = 0
        self.reason: str | None = None

    def item_scraped(self, item: Any, **_: Any) -> None:
        from crawler.items import PageRecords

        if not isinstance(item, PageRecords):
            return
        self.items += 1
        if item.listings.num_rows:
            self.listings.append(item.listings)
        self.rejects.extend(item.rejects)
        self.events.extend(e.to_dict() for e in item.events)
        self.stats.extend(s.to_dict() for s in item.stats)
        self.complete.extend(item.complete_events)
        if item.shard:
            self.shards.add(item.shard)

    def spider_closed(self, reason: str, **_: Any) -> None:
        self.reason = reason


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep:
            raise SystemExit(f"{flag} {value!r}: expected NAME=VALUE")
        out[name] = rest
    return out


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m crawler.run_once")
    cli.add_argument("spider")
    cli.add_argument("out", type=Path)
    cli.add_argument("-a", dest="args", action="append", default=[], help="spider argument")
    cli.add_argument("-s", dest="settings", action="append", default=[], help="setting")
    opts = cli.parse_args(argv)

    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from crawler.spiders import SPIDERS

    settings = get_project_settings()
    settings.set("RIPCITY_PARQUET_EXPORT", False, priority="cmdline")
    for name, value in _pairs(opts.settings, "-s").items():
        settings.set(name, value, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(SPIDERS[opts.spider])
    collector = Collector()
    crawler.signals.connect(collector.item_scraped, signal=signals.item_scraped)
    crawler.signals.connect(collector.spider_closed, signal=signals.spider_closed)
    started = time.monotonic()
    process.crawl(crawler, **_pairs(opts.args, "-a"))
    process.start()
    seconds = time.monotonic() - started

    opts.out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_batches(collector.listings, LISTING_SCHEMA)
    pq.write_table(table, opts.out / "listings.parquet")
    pq.write_table(pa.Table.from_batches([records_to_batch(collector.rejects, REJECT_SCHEMA)])
                   if collector.rejects else REJECT_SCHEMA.empty_table(),
                   opts.out / "rejects.parquet")
    stats = crawler.stats.get_stats() if crawler.stats else {}
    summary = {
        "reason": collector.reason, "items": collector.items, "listings": table.num_rows,
        "seconds": round(seconds, 3), "events": collector.events, "price_stats": collector.stats,
        "complete_events": collector.complete, "shards": sorted(collector.shards),
        "rejects": [{"reason": r.reason, "raw": r.raw} for r in collector.rejects],
        "stats": {k: v for k, v in stats.items() if k.startswith(("ripcity/", "downloader/",
                                                                  "item_", "finish"))},
    }
    (opts.out / "summary.json").write_bytes(orjson.dumps(summary, default=str,
                                                         option=orjson.OPT_INDENT_2))
    return 0 if collector.reason in ("finished", None) else 3


if __name__ == "__main__":
    sys.exit(main())
