"""Item pipelines: what a standalone ``scrapy crawl`` does with its ``PageRecords``.

``ParquetExportPipeline`` appends each page's listings batch to
``$RIPCITY_DATA_DIR/crawl/<spider>-<UTC time>.parquet`` (rejects, events and price stats
beside it as ``.rejects.parquet`` / ``.events.jsonl`` / ``.stats.jsonl``) and logs where,
so a crawl is useful without Ray or a database. The engine, which collects items itself,
turns it off with ``RIPCITY_PARQUET_EXPORT = False``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.exceptions import NotConfigured

from crawler.items import PageRecords
from storage.records import LISTING_SCHEMA, REJECT_SCHEMA, records_to_batch

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class ParquetExportPipeline:
    """Listings (and rejects) to Parquet files, events and stats to JSON lines."""

    def __init__(self, out_dir: Path, crawler: Crawler | None = None) -> None:
        self.out_dir = out_dir
        self.crawler = crawler
        self.writer: pq.ParquetWriter | None = None
        self.rejects: list[pa.RecordBatch] = []
        self.side: dict[str, Any] = {}
        self.stem: Path | None = None
        self.rows = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ParquetExportPipeline:
        if not crawler.settings.getbool("RIPCITY_PARQUET_EXPORT", True):
            raise NotConfigured
        return cls(Path(crawler.settings.get("RIPCITY_DATA_DIR") or ".ripcity") / "crawl",
                   crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        spider = spider or (self.crawler.spider if self.crawler is not None else None)
        name = spider.name if spider is not None else "crawl"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.stem = self.out_dir / f"{name}-{stamp}"
        self.writer = pq.ParquetWriter(f"{self.stem}.parquet", LISTING_SCHEMA)
        self.side = {kind: open(f"{self.stem}.{kind}.jsonl", "ab")  # noqa: SIM115
                     for kind in ("events", "stats")}

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, PageRecords) or self.writer is None:
            return item
        if item.listings.num_rows:
            self.writer.write_batch(item.listings)
            self.rows += item.listings.num_rows
        if item.rejects:
            self.rejects.append(records_to_batch(item.rejects, REJECT_SCHEMA))
        for kind, records in (("events", item.events), ("stats", item.stats)):
            for record in records:
                self.side[kind].write(orjson.dumps(record.to_dict(),
                                                   option=orjson.OPT_APPEND_NEWLINE))
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is None or self.stem is None:
            return
        self.writer.close()
        for handle in self.side.values():
            handle.close()
        if self.rejects:
            pq.write_table(pa.Table.from_batches(self.rejects, REJECT_SCHEMA),
                           f"{self.stem}.rejects.parquet")
        logger.info("wrote %(rows)d listings to %(path)s (events, stats and %(rejects)d "
                    "rejects beside it)", {"rows": self.rows, "path": f"{self.stem}.parquet",
                                           "rejects": sum(b.num_rows for b in self.rejects)})
