"""``CrawlCoordinator`` actor: keeps the frontier and feeds shards to the crawl workers.

A supervisor over its workers (Ray's tree-of-actors pattern): one async loop per worker
slot leases a shard, awaits the worker's ``run_shard`` (which returns only after commit),
and acknowledges it. When the call fails because the worker died, its shard goes back on
the queue after a backoff (an unavailable worker does not spend the shard's attempt); Ray
restarts the worker (``max_restarts``) and the loop waits until it answers before leasing
it more work. Each worker also has an express slot that only takes on-demand refreshes, so
a refresh never waits behind a long crawl.

The coordinator itself restarts too (``engine.actors.make_coordinator``): its frontier is
journaled to PostgreSQL (``FrontierJournal``), and a restarted coordinator restores it and
starts its loops again at the first call it gets.
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
from engine.crawl.journal import FrontierJournal
from engine.crawl.shards import ShardResult

logger = logging.getLogger(__name__)

_KEEP_RESULTS = 5000
#: how often the frontier's changes are journaled (a restart re-runs at most this much)
JOURNAL_EVERY_S = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


class CrawlCoordinator:
    """Run as an async Ray actor (``engine.actors.make_coordinator``).

    Args:
        frontier: the schedule state (spiders, budgets, shard sizes).
        workers: crawl worker handles.
        slots_per_worker: regular shards one worker runs at once.
        tick_seconds: how often due events are planned while running continuously.
        database_url, run: where to journal the frontier, under which run id (without
            them nothing is journaled and a restart starts empty).
    """

    def __init__(self, frontier: Frontier, workers: list[Any], *, slots_per_worker: int = 2,
                 tick_seconds: float = 1.0, database_url: str | None = None,
                 run: str | None = None) -> None:
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
        self._journal = FrontierJournal(database_url, run) if database_url and run else None
        self._resume: bool | None = None  # restarted: start again as (continuous)
        if self._journal is not None and _reconstructed():
            restored = self._journal.restore(self.frontier)
            if restored is not None:
                self._resume, totals = restored
                self.totals.update(totals)
                self.totals["coordinator_restarts"] += 1

    async def _ensure_started(self) -> None:
        """A restarted coordinator starts its loops at the first call it gets, after
        planning what is due (events whose shards were queued after the last journal save
        would otherwise wait for a plan that already happened)."""
        if self._resume is not None and self._wake is None:
            self.frontier.plan(_now())
            await self.start(self._resume)

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
        if self._journal is not None:
            self._tasks.append(asyncio.create_task(self._journaling()))

    async def _journaling(self) -> None:
        """Save the frontier's changes a few times a second, off the event loop."""
        assert self._journal is not None
        while True:
            if self.frontier.changed:  # taken here, on the loop; written in a thread
                changes = self.frontier.take_changes()
                if not await asyncio.to_thread(self._journal.save, changes,
                                               continuous=self._continuous,
                                               totals=dict(self.totals)):
                    self.frontier.give_back(changes)
            await asyncio.sleep(JOURNAL_EVERY_S)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _idle_wait(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _loop(self, name: str, worker: Any, slot: int, express: bool) -> None:
        from ray.exceptions import ActorUnavailableError, RayActorError

        healthy = True
        while True:
            if not healthy:  # after a failure: lease nothing until the worker answers
                healthy = await _answers(worker)
                if not healthy:
                    await asyncio.sleep(0.5)
                    continue
            shard = self.frontier.lease(name, _now(), express=express)
            if shard is None:
                await self._idle_wait(0.25)
                continue
            try:
                result: ShardResult = await worker.run_shard.remote(shard)
            except ActorUnavailableError as err:  # it could not take the shard
                healthy = False
                self.totals["worker_unavailable"] += 1
                self._failed(shard.shard_id, f"crawl worker {name} unavailable: {err}",
                             spent=False)
                continue
            except RayActorError as err:
                healthy = False
                self.totals["worker_deaths"] += 1
                self._failed(shard.shard_id, f"crawl worker {name} died: {err}")
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

    def _failed(self, shard_id: str, error: str, *, spent: bool = True) -> None:
        logger.warning("shard %(shard)s failed: %(err)s", {"shard": shard_id, "err": error})
        if not self.frontier.fail(shard_id, error, _now(), spent=spent):
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
    async def discover(self) -> int:
        await self._ensure_started()
        n = self.frontier.discover(_now())
        self._poke()
        return n

    async def plan(self) -> int:
        await self._ensure_started()
        n = self.frontier.plan(_now())
        self._poke()
        return n

    def set_clock_offset(self, seconds: float) -> None:
        """The marketplaces' clock minus ours (the sandbox's simulated time moves)."""
        self.frontier.clock_offset = timedelta(seconds=seconds)

    def add_events(self, spider: str, events: list[tuple[str, datetime | None]]) -> int:
        n = self.frontier.add_events(spider, events, _now())
        return n

    async def refresh(self, targets: list[tuple[str, str]]) -> list[str]:
        """Crawl these (spider, source_event_id) now, ahead of everything else."""
        await self._ensure_started()
        ids = self.frontier.refresh(targets, _now())
        self._poke()
        return ids

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is queued or running; False on timeout."""
        await self._ensure_started()
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

    async def status(self) -> dict[str, Any]:
        await self._ensure_started()
        out = {**self.frontier.status(), **{f"total_{k}": v for k, v in self.totals.items()}}
        out["backing_off"] = self.frontier.backing_off(_now())
        out["journal_failures"] = self._journal.failures if self._journal is not None else 0
        out["uptime_s"] = round(time.monotonic() - self._started, 1)
        next_due = self.frontier.next_due()
        out["next_due_in_s"] = (None if next_due is None
                                else round((next_due - _now()).total_seconds(), 1))
        return out

    def pid(self) -> int:
        """This actor's process id (operators and the chaos tests kill it by it)."""
        import os

        return os.getpid()

    def results(self) -> list[Any]:
        return [dataclasses.asdict(r) if isinstance(r, ShardResult) else r
                for r in self._results.values()]

    async def stop(self) -> None:
        """Stop the loops; the run is over, so its journal goes too."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._resume = None
        if self._journal is not None:
            try:
                await asyncio.to_thread(self._journal.drop)
            except Exception as err:  # a stale journal is harmless: its run id is unique
                logger.warning("could not drop the frontier journal: %(err)s", {"err": err})
            self._journal.close()


def _reconstructed() -> bool:
    """True in an actor Ray restarted (not in its first life, nor outside Ray)."""
    import ray

    if not ray.is_initialized():
        return False
    return bool(ray.get_runtime_context().was_current_actor_reconstructed)


async def _answers(worker: Any, timeout: float = 2.0) -> bool:
    """Whether a (restarted) crawl worker answers a call within ``timeout`` seconds."""
    try:
        await asyncio.wait_for(asyncio.wrap_future(worker.pid.remote().future()), timeout)
    except Exception:  # unavailable, restarting, or slow: not yet
        return False
    return True
