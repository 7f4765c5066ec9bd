"""Units of crawl work: a ``Shard`` is one spider run over a slice of the frontier.

The frontier is events x marketplaces x pages; a shard is (marketplace, a few events), and
the spider walks that event's pages itself. A shard carries the observation time it stamps
on every listing, so a shard re-run after a worker died rewrites the same snapshot keys
(``(marketplace, listing_id, observed_at)``) and duplicates nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from typing import Any

from engine.ingest_writer import WriteCounts

_ids = itertools.count(1)

#: marketplaces whose pages need a browser (the renderer pool bounds these shards)
BROWSER_SPIDERS: frozenset[str] = frozenset({"stubhub_web"})


@dataclasses.dataclass(frozen=True, slots=True)
class Shard:
    """One spider run: ``spider`` with ``kwargs``, stamped ``observed_at``."""

    shard_id: str
    spider: str
    marketplace: str
    observed_at: datetime
    event_ids: tuple[str, ...] = ()
    discover_only: bool = False
    max_pages: int | None = None
    priority: int = 0  # lower runs first: 0 = on-demand refresh, 1 = due, 2 = discovery
    attempt: int = 0

    @property
    def needs_browser(self) -> bool:
        return self.spider in BROWSER_SPIDERS

    def spider_kwargs(self, city: str | None = None) -> dict[str, Any]:
        """Keyword arguments for the spider, in the crawler's agreed vocabulary."""
        kwargs: dict[str, Any] = {"shard": self.shard_id}
        if city:
            kwargs["city"] = city
        if self.event_ids:
            kwargs["event_ids"] = ",".join(self.event_ids)
        if self.discover_only:
            kwargs["discover_only"] = 1
        if self.max_pages is not None:
            kwargs["max_pages"] = self.max_pages
        return kwargs

    def retry(self) -> Shard:
        """The same work (same ``observed_at``) for another attempt."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (the frontier's journal keeps shards this way)."""
        out = dataclasses.asdict(self)
        out["observed_at"] = self.observed_at.isoformat()
        out["event_ids"] = list(self.event_ids)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Shard:
        fields = dict(data)
        fields["observed_at"] = datetime.fromisoformat(fields["observed_at"])
        fields["event_ids"] = tuple(fields.get("event_ids") or ())
        return cls(**fields)


def new_shard(spider: str, marketplace: str, *, observed_at: datetime | None = None,
              **fields: Any) -> Shard:
    """A shard with a fresh id, stamped now (UTC, whole milliseconds) unless given."""
    stamp = observed_at or datetime.now(UTC)
    stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
    return Shard(shard_id=f"{spider}-{next(_ids)}-{stamp:%H%M%S%f}", spider=spider,
                 marketplace=marketplace, observed_at=stamp, **fields)


@dataclasses.dataclass(slots=True)
class EventSeen:
    """What a shard learned about one event: for scheduling the next crawl."""

    marketplace: str
    source_event_id: str
    starts_at: datetime | None
    listings: int = 0
    lowest_cents: int | None = None


@dataclasses.dataclass(slots=True)
class ShardResult(WriteCounts):
    """What a crawl worker reports once everything of a shard is committed (the ack): the
    sum of its writes' counts (``WriteCounts``) and what the crawl itself saw."""

    shard_id: str
    spider: str
    pages: int = 0
    listings: int = 0
    batches: int = 0
    rejects: int = 0
    errors: int = 0
    events: list[EventSeen] = dataclasses.field(default_factory=list)
    error_messages: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0  # start to ack (everything committed)
    crawl_seconds: float = 0.0  # start to the spider's last page
    events_seconds: float = 0.0  # waiting for event upserts (before their listings)
