"""What a shard learns about its events while it runs.

``EventPreWriter`` writes each event the pages mention once, before any listing that points
at it, and remembers what it learned for scheduling. ``CompletenessTracker`` knows which
events the spider crawled completely, and so whose unseen listings are gone: marked by the
last write itself when the whole shard fits in it, else one ``mark_gone`` per event after
the writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.crawl.shards import EventSeen

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crawler.items import PageRecords
    from engine.crawl.coalesce import Coalescer
    from engine.crawl.shards import Shard
    from storage.records import EventRecord


class EventPreWriter:
    """Upserts a shard's new events through a writer (one blocking call per page that
    brings any); ``seconds`` is the time spent waiting for them."""

    def __init__(self, next_writer: Callable[[], Any]) -> None:
        self._next_writer = next_writer
        self._written: set[tuple[str, str]] = set()
        self._discovered: dict[str, EventSeen] = {}
        self.seconds = 0.0

    def write_new(self, events: Iterable[EventRecord]) -> None:
        """Write the events not written yet (events must exist before their listings)."""
        import ray

        new = [e for e in events if (e.marketplace, e.source_event_id) not in self._written]
        if not new:
            return
        t0 = time.monotonic()
        ray.get(self._next_writer().write_events.remote(new))
        self.seconds += time.monotonic() - t0
        for e in new:
            self._written.add((e.marketplace, e.source_event_id))
            self._discovered.setdefault(e.source_event_id, EventSeen(
                e.marketplace, e.source_event_id, e.starts_at))

    def events_seen(self, shard: Shard, coalescer: Coalescer) -> list[EventSeen]:
        """Every event of the shard, with its listing count and lowest price (for
        scheduling its next crawl)."""
        discovered = self._discovered
        for eid, tally in coalescer.tallies.items():
            seen = discovered.setdefault(eid, EventSeen(shard.marketplace, eid, None))
            seen.listings, seen.lowest_cents = tally.count, tally.lowest_cents
        for eid in shard.event_ids:
            discovered.setdefault(eid, EventSeen(shard.marketplace, eid, None))
        return list(discovered.values())


class CompletenessTracker:
    """The events of a shard that its pages say were crawled completely."""

    def __init__(self, shard: Shard, coalescer: Coalescer) -> None:
        self._shard = shard
        self._coalescer = coalescer
        self._complete: set[str] = set()
        self._in_write: set[str] = set()

    def note(self, page: PageRecords) -> None:
        self._complete.update(getattr(page, "complete_events", None) or ())

    def last_write_is_complete(self, whole: bool) -> bool:
        """Whether the last chunk (just flushed) can mark its events' missing listings gone
        itself: ``whole`` (it is the shard's only chunk) and every event in it complete."""
        in_chunk = set(self._coalescer.tallies)
        if whole and not self._shard.discover_only and in_chunk and in_chunk <= self._complete:
            self._in_write = in_chunk  # "gone" found from the write's state read
        return bool(self._in_write)

    def left_to_mark(self) -> dict[str, list[str]]:
        """Complete events whose gone listings the writes did not mark: event id -> the
        listing ids seen, in event order."""
        if self._shard.discover_only:
            return {}
        return {eid: self._coalescer.seen_ids(eid)
                for eid in sorted(self._complete - self._in_write)}
