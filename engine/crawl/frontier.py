"""The crawl frontier: which (spider, event) is due, queued, leased or done. Pure, no Ray.

The ``CrawlCoordinator`` actor keeps one ``Frontier`` as its state (Ray's "global
variables live in an actor" pattern); keeping it free of I/O lets tests drive the whole
schedule with a fake clock. What changed since the last ``take_changes()`` is tracked, so
the coordinator can journal it to PostgreSQL (``storage.frontier``) and a restarted
coordinator ``restore``s it.

A failed shard is retried after an exponential backoff with jitter (tenacity's
``wait_exponential_jitter``); a shard that no worker could take (the worker was
unavailable) goes back without spending an attempt.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, wait_exponential_jitter

from engine.crawl.cadence import DailyBudget, recrawl_interval, volatility
from engine.crawl.shards import BROWSER_SPIDERS, Shard, ShardResult, new_shard

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class _EventState:
    starts_at: datetime | None
    due_at: datetime
    last_low: int | None = None
    crawls: int = 0
    busy: bool = False  # queued or leased: do not plan it twice
    listings: int | None = None  # at its last crawl (or as discovery counted); None: unknown


@dataclasses.dataclass(slots=True)
class FrontierChanges:
    """What changed since the last ``Frontier.take_changes()``: to journal."""

    events: dict[tuple[str, str], _EventState]
    #: shard id -> (shard, worker leasing it or None, retry not before)
    shards: dict[str, tuple[Shard, str | None, datetime | None]]
    removed: set[str]
    counts: dict[str, int]

    def __bool__(self) -> bool:
        return bool(self.events or self.shards or self.removed)


@dataclasses.dataclass(slots=True)
class _Lease:
    shard: Shard
    worker: str
    since: datetime


class Frontier:
    """Events x spiders, sharded into small spider runs and leased to crawl workers.

    Args:
        spiders: spider name -> marketplace (whose daily budget it spends).
        budgets: marketplace -> requests per day (0 = unlimited, e.g. the sandbox).
        events_per_shard: events of unknown size one listing shard crawls.
        shard_listings: the listings a shard is filled up to, by what each event had at its
            last crawl (an event of unknown size counts ``shard_listings / events_per_shard``);
            0: ``events_per_shard`` events a shard, whatever their size. The engine gives
            its write chunk, so a shard of small events is still one write.
        max_events_per_shard: the most events one shard crawls, however small (a shard's
            run time under a marketplace's rate limit grows with its requests).
        max_attempts: a shard that failed this often is dropped (counted as failed); with
            the default backoff six attempts span about half a minute of failures.
        retry_initial_s, retry_max_s: the backoff before the first retry, and its cap.
        renderer_slots: browser shards that may run at once (the renderer pool size).
        speed: schedule speed-up (intervals are divided by it).
        clock_offset: the marketplaces' clock minus ours, for "time to event" (the
            sandbox runs a simulated clock).
    """

    def __init__(self, spiders: dict[str, str], budgets: dict[str, int] | None = None, *,
                 events_per_shard: int = 4, shard_listings: int = 0,
                 max_events_per_shard: int = 32, max_attempts: int = 6, renderer_slots: int = 1,
                 speed: float = 1.0, discover_spiders: set[str] | None = None,
                 clock_offset: timedelta = timedelta(0), retry_initial_s: float = 1.0,
                 retry_max_s: float = 60.0) -> None:
        self.spiders = dict(spiders)
        self.discover_spiders = set(discover_spiders if discover_spiders is not None
                                    else spiders)
        self.budgets = {m: DailyBudget(limit) for m, limit in (budgets or {}).items()}
        self.events_per_shard = max(1, events_per_shard)
        self.shard_listings = max(0, shard_listings)
        self.max_events_per_shard = max(self.events_per_shard, max_events_per_shard)
        self.max_attempts = max(1, max_attempts)
        self.renderer_slots = max(0, renderer_slots)
        self.speed = speed
        #: the marketplaces' "now" minus ours (the sandbox's simulated clock; 0 for real ones)
        self.clock_offset = clock_offset
        self.events: dict[tuple[str, str], _EventState] = {}
        self._queue: list[tuple[int, int, Shard]] = []
        self._seq = itertools.count()
        self._leases: dict[str, _Lease] = {}
        self._shard_events: dict[str, tuple[str, ...]] = {}
        self.counts: Counter[str] = Counter()
        self.last_errors: list[str] = []
        self._backoff = wait_exponential_jitter(initial=retry_initial_s, max=retry_max_s,
                                                jitter=retry_initial_s)
        self._not_before: dict[str, datetime] = {}  # shard id -> retry not before
        self._dirty_events: set[tuple[str, str]] = set()
        self._dirty_shards: set[str] = set()
        self._removed: set[str] = set()

    # --- planning ------------------------------------------------------------------------
    def _push(self, shard: Shard, not_before: datetime | None = None) -> None:
        heapq.heappush(self._queue, (shard.priority, next(self._seq), shard))
        if not_before is not None:
            self._not_before[shard.shard_id] = not_before
        for eid in shard.event_ids:
            state = self.events.get((shard.spider, eid))
            if state is not None:
                state.busy = True
        self.counts["queued"] += 1
        self._dirty_shards.add(shard.shard_id)
        self._removed.discard(shard.shard_id)

    def _touch(self, spider: str, eid: str) -> None:
        self._dirty_events.add((spider, eid))

    def _drop(self, shard_id: str) -> None:
        self._not_before.pop(shard_id, None)
        self._dirty_shards.discard(shard_id)
        self._removed.add(shard_id)

    def _spend(self, spider: str, cost: int, now: datetime) -> bool:
        budget = self.budgets.get(self.spiders.get(spider, spider))
        if budget is None or budget.try_spend(cost, now):
            return True
        self.counts["over_budget"] += 1
        return False

    def discover(self, now: datetime) -> int:
        """Queue one discovery shard per spider that discovers events."""
        n = 0
        for spider in sorted(self.discover_spiders):
            if self._spend(spider, 1, now):
                self._push(new_shard(spider, self.spiders[spider], observed_at=now,
                                     discover_only=True, priority=2))
                n += 1
        return n

    def add_events(self, spider: str, seen: list[tuple[str, datetime | None]],
                   now: datetime) -> int:
        """Make events known to the schedule (due at once); returns how many were new."""
        new = 0
        for source_id, starts_at in seen:
            state = self.events.get((spider, source_id))
            if state is None:
                self.events[(spider, source_id)] = _EventState(starts_at, due_at=now)
                new += 1
            elif starts_at is not None:
                state.starts_at = starts_at
            self._touch(spider, source_id)
        return new

    def plan(self, now: datetime) -> int:
        """Queue shards for every due, idle event, grouped per spider; returns shards queued."""
        due: dict[str, list[str]] = {}
        for (spider, eid), state in sorted(self.events.items(),
                                           key=lambda kv: kv[1].due_at):
            if not state.busy and state.due_at <= now:
                due.setdefault(spider, []).append(eid)
        queued = 0
        for spider, ids in due.items():
            for chunk in self._pack(spider, ids):
                if not self._spend(spider, len(chunk), now):
                    break
                self._push(new_shard(spider, self.spiders[spider], observed_at=now,
                                     event_ids=chunk, priority=1))
                queued += 1
        return queued

    def _pack(self, spider: str, ids: list[str]) -> Iterator[tuple[str, ...]]:
        """``ids`` (in due order) cut into shards: each filled up to ``shard_listings`` by
        its events' last listing counts, at most ``max_events_per_shard`` events (without a
        listings target, or while no size is known, ``events_per_shard`` events). Every
        shard costs the same fixed work (a spider run, a write transaction, Ray calls), so
        a shard of small events is as dear as one of big events. A browser spider's shards
        keep ``events_per_shard`` events: each event is a page to render, whatever its
        listings, and a long shard would hold a renderer slot that refreshes wait for."""
        target = 0 if spider in BROWSER_SPIDERS else self.shard_listings
        unknown = max(1, target // self.events_per_shard)  # an unknown event: a share of it
        shard: list[str] = []
        size = 0
        for eid in ids:
            known = self.events[(spider, eid)].listings if target else None
            est = unknown if known is None else known
            if target:
                full = len(shard) >= self.max_events_per_shard or size + est > target
            else:
                full = len(shard) >= self.events_per_shard
            if shard and full:
                yield tuple(shard)
                shard, size = [], 0
            shard.append(eid)
            size += est
        if shard:
            yield tuple(shard)

    def refresh(self, targets: list[tuple[str, str]], now: datetime) -> list[str]:
        """Queue ahead of everything: each (spider, source_event_id) as its own shard."""
        ids = []
        for spider, eid in targets:
            if spider not in self.spiders:
                continue
            self.events.setdefault((spider, eid), _EventState(None, due_at=now))
            self._touch(spider, eid)
            shard = new_shard(spider, self.spiders[spider], observed_at=now,
                              event_ids=(eid,), priority=0)
            self._spend(spider, 1, now)  # counted, never refused: a person is waiting
            self._push(shard)
            self.counts["refresh"] += 1
            ids.append(shard.shard_id)
        return ids

    # --- leasing -------------------------------------------------------------------------
    def _browser_leases(self) -> int:
        return sum(1 for lease in self._leases.values() if lease.shard.needs_browser)

    def lease(self, worker: str, now: datetime, *, express: bool = False) -> Shard | None:
        """The next shard for ``worker``; ``express`` slots take only on-demand refreshes."""
        skipped: list[tuple[int, int, Shard]] = []
        found = None
        while self._queue:
            item = heapq.heappop(self._queue)
            shard = item[2]
            if express and shard.priority > 0:
                skipped.append(item)
                break
            wait = self._not_before.get(shard.shard_id)
            if wait is not None and wait > now:  # backing off after a failure
                skipped.append(item)
                continue
            if shard.needs_browser and self._browser_leases() >= self.renderer_slots:
                skipped.append(item)
                continue
            found = shard
            break
        for item in skipped:
            heapq.heappush(self._queue, item)
        if found is not None:
            self._leases[found.shard_id] = _Lease(found, worker, now)
            self._not_before.pop(found.shard_id, None)
            self._dirty_shards.add(found.shard_id)
            self.counts["leased"] += 1
        return found

    def ack(self, result: ShardResult, now: datetime) -> None:
        """The shard's writes are committed: schedule its events' next crawl."""
        lease = self._leases.pop(result.shard_id, None)
        if lease is None:
            self.counts["late_ack"] += 1
            return
        shard = lease.shard
        self._drop(shard.shard_id)
        self.counts["acked"] += 1
        seen = {e.source_event_id: e for e in result.events}
        if shard.discover_only:
            self.add_events(shard.spider, [(e.source_event_id, e.starts_at)
                                           for e in result.events], now)
            for e in result.events:  # the size discovery gave (the listings, still unseen)
                state = self.events.get((shard.spider, e.source_event_id))
                if state is not None and state.listings is None and e.listings > 0:
                    state.listings = e.listings
        for eid in shard.event_ids:
            state = self.events.get((shard.spider, eid))
            if state is None:
                continue
            info = seen.get(eid)
            if info is not None and info.starts_at is not None:
                state.starts_at = info.starts_at
            low = info.lowest_cents if info is not None else None
            vol = volatility(state.last_low, low)
            state.last_low = low if low is not None else state.last_low
            if info is not None:
                state.listings = info.listings
            state.crawls += 1
            state.busy = False
            self._touch(shard.spider, eid)
            state.due_at = now + recrawl_interval(state.starts_at, now + self.clock_offset,
                                                  vol, self.speed)

    def fail(self, shard_id: str, error: str, now: datetime, *, spent: bool = True) -> bool:
        """A shard's run failed (worker died or raised): re-queue it after a backoff;
        False when given up. ``spent=False``: no worker could take it (the one it went to
        was unavailable), so the attempt does not count."""
        lease = self._leases.pop(shard_id, None)
        if lease is None:
            return False
        self._drop(shard_id)
        self.counts["errors" if spent else "unavailable"] += 1
        self.last_errors = [*self.last_errors[-9:], f"{shard_id}: {error}"]
        shard = lease.shard
        if spent and shard.attempt + 1 >= self.max_attempts:
            self.counts["failed"] += 1
            logger.error("giving up on shard %(shard)s after %(n)d attempts: %(err)s",
                         {"shard": shard_id, "n": shard.attempt + 1, "err": error})
            for eid in shard.event_ids:
                state = self.events.get((shard.spider, eid))
                if state is not None:
                    state.busy = False
                    state.due_at = now + timedelta(minutes=5) / max(self.speed, 1e-9)
                    self._touch(shard.spider, eid)
            return False
        self.counts["requeued"] += 1
        retry = shard.retry() if spent else shard
        self._push(retry, now + timedelta(seconds=self.backoff(retry.attempt + 1)))
        return True

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (1 = the first retry): exponential, jittered."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = max(1, attempt)
        return float(self._backoff(state))

    def release_worker(self, worker: str, error: str, now: datetime) -> int:
        """Re-queue every shard leased to a worker that died."""
        ids = [sid for sid, lease in self._leases.items() if lease.worker == worker]
        for sid in ids:
            self.fail(sid, error, now)
        return len(ids)

    # --- views ---------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return len(self._leases)

    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not self._queue and not self._leases

    def next_due(self) -> datetime | None:
        times = [s.due_at for s in self.events.values() if not s.busy]
        return min(times) if times else None

    def backing_off(self, now: datetime) -> int:
        """Queued shards waiting out a retry backoff."""
        return sum(1 for t in self._not_before.values() if t > now)

    # --- journal -------------------------------------------------------------------------
    @property
    def changed(self) -> bool:
        """Something changed since the last ``take_changes()``."""
        return bool(self._dirty_events or self._dirty_shards or self._removed)

    def take_changes(self) -> FrontierChanges:
        """What changed since the last call (events, queued or leased shards, shards done)."""
        queued = {item[2].shard_id: item[2] for item in self._queue}
        shards: dict[str, tuple[Shard, str | None, datetime | None]] = {}
        for sid in self._dirty_shards:
            if sid in self._leases:
                lease = self._leases[sid]
                shards[sid] = (lease.shard, lease.worker, None)
            elif sid in queued:
                shards[sid] = (queued[sid], None, self._not_before.get(sid))
        events = {k: dataclasses.replace(self.events[k]) for k in self._dirty_events
                  if k in self.events}
        out = FrontierChanges(events, shards, set(self._removed), dict(self.counts))
        self._dirty_events.clear()
        self._dirty_shards.clear()
        self._removed.clear()
        return out

    def give_back(self, changes: FrontierChanges) -> None:
        """Changes taken but not journaled (the database was away): taken again next time."""
        self._dirty_events |= set(changes.events)
        self._dirty_shards |= set(changes.shards)
        self._removed |= changes.removed - self._dirty_shards

    def restore(self, events: dict[tuple[str, str], tuple[datetime | None, datetime,
                                                           int | None, int, int | None]],
                shards: list[tuple[Shard, datetime | None]], counts: dict[str, int]) -> None:
        """Take back a journaled state: events (key -> starts_at, due_at, last_low, crawls,
        listings) and the shards that were queued or leased (all queued again: a lease of the dead
        coordinator's may still be running, and a re-run shard writes the same keys)."""
        for k, (starts_at, due_at, last_low, crawls, listings) in events.items():
            self.events[k] = _EventState(starts_at, due_at, last_low, crawls, listings=listings)
        self.counts = Counter(counts)
        for shard, not_before in shards:
            self._push(shard, not_before)
        self.counts["restored"] += len(shards)

    def status(self) -> dict[str, Any]:
        return {"events": len(self.events), "backlog": self.backlog,
                "in_flight": self.in_flight, **self.counts,
                "last_errors": list(self.last_errors)}
