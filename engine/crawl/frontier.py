"""The crawl frontier: which (spider, event) is due, queued, leased or done. Pure, no Ray.

The ``CrawlCoordinator`` actor keeps one ``Frontier`` as its state (Ray's "global
variables live in an actor" pattern); keeping it free of I/O lets tests drive the whole
schedule with a fake clock.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from engine.crawl.cadence import DailyBudget, recrawl_interval, volatility
from engine.crawl.shards import Shard, ShardResult, new_shard

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class _EventState:
    starts_at: datetime | None
    due_at: datetime
    last_low: int | None = None
    crawls: int = 0
    busy: bool = False  # queued or leased: do not plan it twice


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
        events_per_shard: events one listing shard crawls.
        max_attempts: a shard that failed this often is dropped (counted as failed).
        renderer_slots: browser shards that may run at once (the renderer pool size).
        speed: schedule speed-up (intervals are divided by it).
        clock_offset: the marketplaces' clock minus ours, for "time to event" (the
            sandbox runs a simulated clock).
    """

    def __init__(self, spiders: dict[str, str], budgets: dict[str, int] | None = None, *,
                 events_per_shard: int = 4, max_attempts: int = 3, renderer_slots: int = 1,
                 speed: float = 1.0, discover_spiders: set[str] | None = None,
                 clock_offset: timedelta = timedelta(0)) -> None:
        self.spiders = dict(spiders)
        self.discover_spiders = set(discover_spiders if discover_spiders is not None
                                    else spiders)
        self.budgets = {m: DailyBudget(limit) for m, limit in (budgets or {}).items()}
        self.events_per_shard = max(1, events_per_shard)
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

    # --- planning ------------------------------------------------------------------------
    def _push(self, shard: Shard) -> None:
        heapq.heappush(self._queue, (shard.priority, next(self._seq), shard))
        for eid in shard.event_ids:
            state = self.events.get((shard.spider, eid))
            if state is not None:
                state.busy = True
        self.counts["queued"] += 1

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
            for i in range(0, len(ids), self.events_per_shard):
                chunk = tuple(ids[i:i + self.events_per_shard])
                if not self._spend(spider, len(chunk), now):
                    break
                self._push(new_shard(spider, self.spiders[spider], observed_at=now,
                                     event_ids=chunk, priority=1))
                queued += 1
        return queued

    def refresh(self, targets: list[tuple[str, str]], now: datetime) -> list[str]:
        """Queue ahead of everything: each (spider, source_event_id) as its own shard."""
        ids = []
        for spider, eid in targets:
            if spider not in self.spiders:
                continue
            self.events.setdefault((spider, eid), _EventState(None, due_at=now))
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
            if shard.needs_browser and self._browser_leases() >= self.renderer_slots:
                skipped.append(item)
                continue
            found = shard
            break
        for item in skipped:
            heapq.heappush(self._queue, item)
        if found is not None:
            self._leases[found.shard_id] = _Lease(found, worker, now)
            self.counts["leased"] += 1
        return found

    def ack(self, result: ShardResult, now: datetime) -> None:
        """The shard's writes are committed: schedule its events' next crawl."""
        lease = self._leases.pop(result.shard_id, None)
        if lease is None:
            self.counts["late_ack"] += 1
            return
        shard = lease.shard
        self.counts["acked"] += 1
        seen = {e.source_event_id: e for e in result.events}
        if shard.discover_only:
            self.add_events(shard.spider, [(e.source_event_id, e.starts_at)
                                           for e in result.events], now)
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
            state.crawls += 1
            state.busy = False
            state.due_at = now + recrawl_interval(state.starts_at, now + self.clock_offset,
                                                  vol, self.speed)

    def fail(self, shard_id: str, error: str, now: datetime) -> bool:
        """A shard's run failed (worker died or raised): re-queue it; False when given up."""
        lease = self._leases.pop(shard_id, None)
        if lease is None:
            return False
        self.counts["errors"] += 1
        self.last_errors = [*self.last_errors[-9:], f"{shard_id}: {error}"]
        shard = lease.shard
        if shard.attempt + 1 >= self.max_attempts:
            self.counts["failed"] += 1
            logger.error("giving up on shard %(shard)s after %(n)d attempts: %(err)s",
                         {"shard": shard_id, "n": shard.attempt + 1, "err": error})
            for eid in shard.event_ids:
                state = self.events.get((shard.spider, eid))
                if state is not None:
                    state.busy = False
                    state.due_at = now + timedelta(minutes=5) / max(self.speed, 1e-9)
            return False
        self.counts["requeued"] += 1
        self._push(shard.retry())
        return True

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

    def status(self) -> dict[str, Any]:
        return {"events": len(self.events), "backlog": self.backlog,
                "in_flight": self.in_flight, **self.counts,
                "last_errors": list(self.last_errors)}
