"""What a spider yields: one ``PageRecords`` per response, never one item per listing.

The engine's crawl workers and Scrapy's own pipelines receive these; per-item overhead is
what limits Scrapy at volume, so a page's listings travel as one Arrow record batch.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from storage.records import LISTING_SCHEMA, EventRecord, PriceStats, Reject, empty_batch

#: one shared empty listings batch (batches are immutable; building one per page cost 2 % of
#: a crawl worker's time)
_NO_LISTINGS = empty_batch(LISTING_SCHEMA)


@dataclasses.dataclass(slots=True)
class PageRecords:
    """Everything one response yielded: events, a listings batch, price stats and rejects."""

    marketplace: str
    source: str  # the URL (or file) the records came from
    listings: pa.RecordBatch = dataclasses.field(default_factory=lambda: _NO_LISTINGS)
    events: list[EventRecord] = dataclasses.field(default_factory=list)
    stats: list[PriceStats] = dataclasses.field(default_factory=list)
    rejects: list[Reject] = dataclasses.field(default_factory=list)
    #: the shard this page belongs to, when the engine assigned one (opaque to the crawler)
    shard: str | None = None
    #: source_event_ids whose full listing set has now been yielded (set on an event's last
    #: listings page), so storage can mark that event's listings not seen as gone
    complete_events: list[str] = dataclasses.field(default_factory=list)

    @property
    def listing_count(self) -> int:
        return self.listings.num_rows
