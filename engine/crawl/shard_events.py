"""What a shard learns about its events while it runs.

``EventPreWriter`` writes each event the pages mention once, before any listing that points
at it, and remembers what it learned for scheduling; ``WrittenEvents`` (one per crawl
worker, across its shards) spares it writing again an event unchanged since the worker
wrote it. ``CompletenessTracker`` knows which events the spider crawled completely, and so
whose unseen listings are gone: marked by the last write itself when the whole shard fits
in it, else one ``mark_gone`` per event after the writes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.crawl.shards import EventSeen

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crawler.items import PageRecords
    from engine.crawl.coalesce import Coalescer
    from engine.crawl.shards import Shard
    from storage.records import EventRecord, PriceStats


class WrittenEvents:
    """The events one crawl worker wrote, as it wrote them, and when.

    A re-crawl finds most events unchanged; writing each again cost a Ray round trip and a
    transaction of four statements (about 1 ms of PostgreSQL and 0.5 ms of writer CPU per
    event, so ~2 us per listing at 2,500 listings an event, more for smaller events). A
    record new to this worker or changed (name, time, status, venue, ...; not
    ``observed_at``) is written at once (``changed``). An unchanged one only needs its
    source's ``last_seen_at`` (which picks the buy link) to move, at the resolution of an
    unchanged listing's ``last_seen`` (``RIPCITY_LAST_SEEN_RESOLUTION_S``): once this
    worker's last write or touch of it is that old it is ``stale``, and touched. Sources
    are never deleted (merges and splits move them), so an event written once exists for
    good.
    """

    def __init__(self, resolution_s: float, limit: int = 200_000) -> None:
        self._resolution = resolution_s
        self._limit = limit
        self._written: dict[tuple[str, str], tuple[EventRecord, float]] = {}

    @staticmethod
    def _as_written(ev: EventRecord) -> EventRecord:
        return dataclasses.replace(ev, observed_at=None)

    def changed(self, ev: EventRecord) -> bool:
        """Whether ``ev`` must be written: new to this worker, or not as it last wrote it."""
        held = self._written.get((ev.marketplace, ev.source_event_id))
        return held is None or held[0] != self._as_written(ev)

    def stale(self, ev: EventRecord, now: float) -> bool:
        """Whether an unchanged ``ev``'s last sighting is due to move: this worker last
        wrote or touched it ``resolution_s`` ago or more."""
        held = self._written.get((ev.marketplace, ev.source_event_id))
        return held is not None and now - held[1] >= self._resolution

    def wrote(self, events: Iterable[EventRecord], now: float) -> None:
        """``events`` are committed, written or touched (call after the call returned)."""
        if len(self._written) > self._limit:  # a worker of very many events: start afresh
            self._written.clear()
        for ev in events:
            self._written[(ev.marketplace, ev.source_event_id)] = (self._as_written(ev), now)


class EventPreWriter:
    """Upserts a shard's new and changed events through a writer (one blocking call per
    page that brings any), and touches its unchanged stale ones (one call for the shard,
    ``touch_stale``); ``seconds`` is the time spent waiting for them."""

    def __init__(self, next_writer: Callable[[], Any], memory: WrittenEvents) -> None:
        self._next_writer = next_writer
        self._memory = memory
        self._written: set[tuple[str, str]] = set()
        self._stale: list[EventRecord] = []
        self._discovered: dict[str, EventSeen] = {}
        self._counted: dict[str, int] = {}  # listings per event as the marketplace counts them
        self.seconds = 0.0

    def write_new(self, events: Iterable[EventRecord]) -> None:
        """Write the events not written yet (events must exist before their listings)."""
        import ray

        new = [e for e in events if (e.marketplace, e.source_event_id) not in self._written]
        if not new:
            return
        t0 = time.monotonic()
        changed = [self._memory.changed(e) for e in new]
        write = [e for e, c in zip(new, changed, strict=True) if c]
        if write:
            ray.get(self._next_writer().write_events.remote(write))
            self._memory.wrote(write, t0)
            self.seconds += time.monotonic() - t0
        self._stale += [e for e, c in zip(new, changed, strict=True)
                        if not c and self._memory.stale(e, t0)]
        for e in new:
            self._written.add((e.marketplace, e.source_event_id))
            self._discovered.setdefault(e.source_event_id, EventSeen(
                e.marketplace, e.source_event_id, e.starts_at))

    def count(self, stats: Iterable[PriceStats]) -> None:
        """Note each event's listing count as its price stats give it (discovery pages
        carry them: the size of an event not crawled yet)."""
        for st in stats:
            if st.listing_count:
                self._counted[st.source_event_id] = st.listing_count

    def touch_stale(self) -> None:
        """Move the last sighting of the shard's unchanged events whose sighting is old, in
        one call (they exist, so their listings did not wait for it)."""
        import ray

        if not self._stale:
            return
        t0 = time.monotonic()
        ray.get(self._next_writer().touch_events.remote(
            [(e.marketplace, e.source_event_id) for e in self._stale]))
        self._memory.wrote(self._stale, t0)
        self._stale = []
        self.seconds += time.monotonic() - t0

    def events_seen(self, shard: Shard, coalescer: Coalescer) -> list[EventSeen]:
        """Every event of the shard, with its listing count (the listings crawled; on a
        discovery page, the count its stats give, if any) and lowest price (for scheduling
        its next crawl)."""
        discovered = self._discovered
        for eid, n in self._counted.items():
            if eid in discovered:
                discovered[eid].listings = n
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
