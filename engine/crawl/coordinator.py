"""``CrawlCoordinator`` actor: keeps the frontier and feeds shards to the crawl workers.

A supervisor over its workers (Ray's tree-of-actors pattern): one async loop per worker
slot leases a shard, awaits the worker's ``run_shard`` (which returns only after commit),
and acknowledges it. When the call fails because the worker died, its shard goes back on
the queue; Ray restarts the worker (``max_restarts``) and the loop carries on with it.
Each worker also has an express slot that only takes on-demand refreshes, so a refresh
never waits behind a long crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.crawl.frontier import Frontier
from engine.crawl.shards import ShardResult

logger = logging.getLogger(__name__)

_KEEP_RESULTS = 5000


def _now() -> datetime:
    return datetime.now(UTC)


class CrawlCoordinator:
    """Run as an async Ray actor (``engine.actors.make_coordinator``).

    Args:
        frontier: the schedule state (spiders, budgets, shard sizes).
        workers: crawl worker handles.
        slots_per_worker: regular shards one worker runs at once.
        tick_seconds: how often due events are planned while running continuously.
    """

    def __init__(self, frontier: Frontier, workers: list[Any], *, slots_per_worker: int = 2,
                 tick_seconds: float = 1.0) -> None:
        self.frontier = frontier
        self.workers = list(workers)
        self.slots = max(1, slots_per_worker)
        self.tick = tick_seconds
        self.totals: Counter[str] = Counter()
        self._results: dict[str, ShardResult | str] = {}
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._continuous = False
        self._started = time.monotonic()

    async def start(self, continuous: bool = False) -> None:
        """Start the worker loops (and, when ``continuous``, the planning ticker)."""
        self._wake = asyncio.Event()
        self._continuous = continuous
        for i, worker in enumerate(self.workers):
            name = f"worker-{i}"
            for slot in range(self.slots):
                self._tasks.append(asyncio.create_task(self._loop(name, worker, slot, False)))
            self._tasks.append(asyncio.create_task(self._loop(name, worker, -1, True)))
        if continuous:
            self._tasks.append(asyncio.create_task(self._ticker()))

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _idle_wait(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _loop(self, name: str, worker: Any, slot: int, express: bool) -> None:
        from ray.exceptions import RayActorError

        while True:
            shard = self.frontier.lease(name, _now(), express=express)
            if shard is None:
                await self._idle_wait(0.25)
                continue
            try:
                result: ShardResult = await worker.run_shard.remote(shard)
            except RayActorError as err:
                self.totals["worker_deaths"] += 1
                self._failed(shard.shard_id, f"crawl worker {name} died: {err}")
                await asyncio.sleep(0.2)  # let Ray restart it
                continue
            except Exception as err:  # the shard's own error: count it, retry the shard
                self._failed(shard.shard_id, f"{type(err).__name__}: {err}"[:500])
                continue
            self.frontier.ack(result, _now())
            self._remember(shard.shard_id, result)
            for field in ("pages", "listings", "written", "batches", "rejects", "quarantined",
                          "errors", "new_listings", "price_changes", "gone"):
                self.totals[field] += getattr(result, field)
            self.totals["shards"] += 1
            self._poke()

    def _failed(self, shard_id: str, error: str) -> None:
        logger.warning("shard %(shard)s failed: %(err)s", {"shard": shard_id, "err": error})
        if not self.frontier.fail(shard_id, error, _now()):
            self._remember(shard_id, error)
        self._poke()

    def _remember(self, shard_id: str, outcome: ShardResult | str) -> None:
        self._results[shard_id] = outcome
        if len(self._results) > _KEEP_RESULTS:  # dicts keep insertion order: drop oldest
            for key in list(self._results)[: len(self._results) - _KEEP_RESULTS]:
                del self._results[key]

    async def _ticker(self) -> None:
        while True:
            if self.frontier.plan(_now()):
                self._poke()
            await asyncio.sleep(self.tick)

    # --- commands from the driver --------------------------------------------------------
    def discover(self) -> int:
        n = self.frontier.discover(_now())
        self._poke()
        return n

    def plan(self) -> int:
        n = self.frontier.plan(_now())
        self._poke()
        return n

    def set_clock_offset(self, seconds: float) -> None:
        """The marketplaces' clock minus ours (the sandbox's simulated time moves)."""
        self.frontier.clock_offset = timedelta(seconds=seconds)

    def add_events(self, spider: str, events: list[tuple[str, datetime | None]]) -> int:
        n = self.frontier.add_events(spider, events, _now())
        return n

    def refresh(self, targets: list[tuple[str, str]]) -> list[str]:
        """Crawl these (spider, source_event_id) now, ahead of everything else."""
        ids = self.frontier.refresh(targets, _now())
        self._poke()
        return ids

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is queued or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.frontier.idle():
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def wait_shards(self, shard_ids: list[str], timeout: float = 30.0
                          ) -> dict[str, Any]:
        """Until these shards are done (acked or given up); their results or errors."""
        deadline = time.monotonic() + timeout
        while any(s not in self._results for s in shard_ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        return {s: self._results.get(s) for s in shard_ids}

    def status(self) -> dict[str, Any]:
        out = {**self.frontier.status(), **{f"total_{k}": v for k, v in self.totals.items()}}
        out["uptime_s"] = round(time.monotonic() - self._started, 1)
        next_due = self.frontier.next_due()
        out["next_due_in_s"] = (None if next_due is None
                                else round((next_due - _now()).total_seconds(), 1))
        return out

    def results(self) -> list[Any]:
        return [dataclasses.asdict(r) if isinstance(r, ShardResult) else r
                for r in self._results.values()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
