"""``Engine``: builds the actors, runs crawl cycles, takes refreshes, reports status.

The driver-side handle used by ``ripcity run``, ``ripcity crawl`` and the pipeline
benchmark; the work itself happens in the actors (see ``engine.actors``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class EngineOptions:
    """How big the engine is; defaults suit a 2-core laptop."""

    crawl_workers: int = 2
    ingest_writers: int = 1
    scorers: int = 1
    slots_per_worker: int = 2
    max_inflight_batches: int = 16
    chunk_rows: int = 5000
    queue_pages: int = 64  # pages a shard may buffer before its crawl is paused
    events_per_shard: int = 4  # of unknown size; by size, a shard fills one write chunk
    max_events_per_shard: int = 32
    renderer_slots: int = dataclasses.field(default_factory=lambda: default_renderer_slots())
    speed: float = 1.0
    spiders: tuple[str, ...] | None = None  # None = every spider
    marketplaces: tuple[str, ...] | None = None
    city: str | None = None
    actor_cpus: float = 0.0
    budgets: dict[str, int] = dataclasses.field(default_factory=dict)
    hook_specs: list[str] | None = None
    clock_offset_s: float = 0.0  # the marketplaces' clock minus ours (sandbox time)
    maintenance_tick_s: float = 300.0  # rollups / forecasts / retraining loop; 0 = off


def default_renderer_slots() -> int:
    """Browsers that may render at once: one per 2 cores and per 2 GiB free, at least 1."""
    import os

    import psutil

    cores = os.cpu_count() or 1
    free_gib = psutil.virtual_memory().available / 2**30
    return max(1, min(cores // 2, int(free_gib // 2)))


def drop_unrenderable(spiders: dict[str, str], chromium: str | None) -> dict[str, str]:
    """Without Chromium the page spiders cannot run: leave them out, and say so."""
    import os

    from engine.crawl.shards import BROWSER_SPIDERS

    if chromium and os.path.exists(chromium):
        return spiders
    dropped = sorted(set(spiders) & BROWSER_SPIDERS)
    if dropped:
        logger.warning("no Chromium at %(path)s: not crawling %(spiders)s (install chromium or "
                       "set RIPCITY_CHROMIUM_PATH)", {"path": chromium, "spiders": dropped})
    return {k: v for k, v in spiders.items() if k not in BROWSER_SPIDERS} or spiders


def spider_marketplaces(names: tuple[str, ...] | None = None,
                        marketplaces: tuple[str, ...] | None = None) -> dict[str, str]:
    """spider name -> marketplace, for the chosen spiders (all by default)."""
    from crawler.spiders import SPIDERS

    out = {}
    for name, cls in SPIDERS.items():
        market = getattr(cls, "marketplace", None) or name.split("_")[0]
        if names and name not in names:
            continue
        if marketplaces and market not in marketplaces:
            continue
        out[name] = market
    if not out:
        raise ValueError(f"no spider matches spiders={names} marketplaces={marketplaces}; "
                         f"known spiders: {sorted(SPIDERS)}")
    return out


def _discovering(spiders: dict[str, str]) -> set[str]:
    from crawler.spiders import SPIDERS

    return {n for n in spiders if getattr(SPIDERS[n], "discovers", True)}


#: how long a driver call waits for a restarting coordinator before it gives up
COORDINATOR_WAIT_S = 120.0


class CoordinatorUnavailable(RuntimeError):
    """The crawl coordinator did not come back in time (or is gone for good)."""


class EngineStopped(RuntimeError):
    """The engine was stopped while a call was waiting on it."""


class Engine:
    """The running engine (Ray must be initialised; see ``engine.cluster``)."""

    def __init__(self, database_url: str, scrapy_settings: dict[str, Any],
                 options: EngineOptions | None = None) -> None:
        self.database_url = database_url
        self.scrapy_settings = scrapy_settings
        self.options = options or EngineOptions()
        self.writers: list[Any] = []
        self.relays: list[Any] = []
        self.scorers: list[Any] = []
        self.workers: list[Any] = []
        self.coordinator: Any = None
        self.spiders: dict[str, str] = {}
        self.maintenance: Any = None  # engine.maintenance.MaintenanceLoop once started
        self.run_id = ""
        self._last_status: dict[str, Any] = {}
        self.reaper: Any = None  # engine.post_commit.PostCommitReaper once started
        self._stopping = threading.Event()
        self._cycles = 0  # run_cycle calls in progress (stop waits for them to leave Ray)
        self._cycles_left = threading.Condition()

    def start(self, continuous: bool = False) -> Engine:
        """Create every actor and wait until the crawl workers' Scrapy runtimes are up."""
        import ray

        from engine import actors
        from engine.crawl.frontier import Frontier

        o = self.options
        tag = f"ripcity-{uuid.uuid4().hex[:8]}"
        self.spiders = drop_unrenderable(spider_marketplaces(o.spiders, o.marketplaces),
                                         self.scrapy_settings.get("RIPCITY_CHROMIUM_PATH"))
        names = {kind: [f"{tag}-{kind}-{i}" for i in range(n)] for kind, n in (
            ("writer", o.ingest_writers), ("scorer", o.scorers), ("relay", 1))}
        self.writers = [actors.make_writer(self.database_url, name=n, cpus=o.actor_cpus)
                        for n in names["writer"]]
        self.relays = [actors.make_relay(self.database_url, name=n, cpus=o.actor_cpus,
                                         hook_specs=o.hook_specs) for n in names["relay"]]
        self.scorers = [actors.make_scorer(self.database_url, name=n, cpus=o.actor_cpus)
                        for n in names["scorer"]]
        per_worker = max(1, o.max_inflight_batches // max(1, o.crawl_workers * o.slots_per_worker))
        self.workers = [actors.make_worker(
            f"worker-{i}", self.scrapy_settings, names["writer"], names["scorer"], names["relay"],
            slots=o.slots_per_worker, cpus=o.actor_cpus, chunk_rows=o.chunk_rows,
            max_inflight=per_worker, queue_pages=o.queue_pages, city=o.city)
            for i in range(o.crawl_workers)]
        ray.get([w.ready.remote() for w in self.workers]
                + [w.pid.remote() for w in self.writers]
                + [s.model_version.remote() for s in self.scorers]
                + [r.hooks.remote() for r in self.relays])
        frontier = Frontier(self.spiders, o.budgets, events_per_shard=o.events_per_shard,
                            shard_listings=o.chunk_rows,
                            max_events_per_shard=o.max_events_per_shard,
                            renderer_slots=o.renderer_slots, speed=o.speed,
                            discover_spiders=_discovering(self.spiders),
                            clock_offset=timedelta(seconds=o.clock_offset_s))
        self.run_id = tag
        self.coordinator = actors.make_coordinator(
            frontier, self.workers, name=f"{tag}-coordinator",
            slots_per_worker=o.slots_per_worker, database_url=self.database_url, run=tag)
        ray.get(self.coordinator.start.remote(continuous))
        from engine.post_commit import PostCommitReaper

        self.reaper = PostCommitReaper(self.database_url, self.scorers, self.relays).start()
        return self

    def start_maintenance(self, **options: Any) -> Any:
        """Start the periodic-work thread (rollups, forecasts, retraining, partitions,
        retention; see ``engine.maintenance``) unless ``maintenance_tick_s`` is 0."""
        from engine.maintenance import MaintenanceLoop, MaintenanceOptions

        if self.options.maintenance_tick_s <= 0 or self.maintenance is not None:
            return self.maintenance
        options.setdefault("clock_offset", timedelta(seconds=self.options.clock_offset_s))
        self.maintenance = MaintenanceLoop(self.database_url, MaintenanceOptions(
            tick_s=self.options.maintenance_tick_s, **options)).start()
        return self.maintenance

    # --- work ----------------------------------------------------------------------------
    def run_cycle(self, timeout: float = 3600.0) -> dict[str, Any]:
        """One full crawl: discover events on every marketplace, then crawl each one."""

        t0 = time.monotonic()
        with self._cycle():
            self.discover()
            if not self._wait_idle(t0 + timeout):
                raise TimeoutError(f"discovery did not finish within {timeout:.0f}s")
            self.plan()
            if not self._wait_idle(t0 + timeout):
                raise TimeoutError(f"the crawl cycle did not finish within {timeout:.0f}s")
            self.flush()
            summary = self.status()
        summary.update(self.stored())
        summary["cycle_seconds"] = round(time.monotonic() - t0, 2)
        return summary

    @contextlib.contextmanager
    def _cycle(self) -> Any:
        """Counts a cycle in progress: ``stop`` waits until it has left Ray (a thread still
        in ``ray.get`` when Ray shuts down takes the whole process with it)."""
        with self._cycles_left:
            self._cycles += 1
        try:
            yield
        finally:
            with self._cycles_left:
                self._cycles -= 1
                self._cycles_left.notify_all()

    def stored(self) -> dict[str, int]:
        """What the database holds (``written`` snapshots, ``live`` and ``scored`` live
        listings, ``unscored`` = live minus scored, ``quarantined``, ``matched``), for the
        summary: counters in actors' memory undercount after a restart."""
        from storage.db import connect
        from storage.ops import stored_counts

        with connect(self.database_url) as conn:
            counts = dataclasses.asdict(stored_counts(conn))
        counts["unscored"] = counts["live"] - counts["scored"]
        return counts

    def discover(self) -> int:
        """Queue a discovery shard per marketplace."""
        return int(self._coordinator_call("discover"))

    def plan(self) -> int:
        """Queue shards for every due event."""
        return int(self._coordinator_call("plan"))

    def idle(self) -> bool:
        """Nothing queued or running right now."""
        return bool(self._coordinator_call("wait_idle", 0.0))

    def _wait_idle(self, deadline: float) -> bool:
        """Until the coordinator has nothing queued or running (asked in short waits, so a
        coordinator restarting meanwhile is waited for and asked again); False at
        ``deadline``."""
        while time.monotonic() < deadline:
            step = min(5.0, max(0.1, deadline - time.monotonic()))
            if self._coordinator_call("wait_idle", step, wait=deadline - time.monotonic()):
                return True
        return False

    def _coordinator_call(self, method: str, *args: Any, wait: float = COORDINATOR_WAIT_S
                          ) -> Any:
        """``coordinator.<method>(*args)``, waiting up to ``wait`` seconds for a restarting
        coordinator (Ray restarts it and retries the call); then a clear error."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        deadline = time.monotonic() + max(wait, 1.0)
        while True:
            if self._stopping.is_set():
                raise EngineStopped(f"the engine stopped; no {method}")
            try:
                return ray.get(getattr(self.coordinator, method).remote(*args),
                               timeout=max(1.0, deadline - time.monotonic()))
            except (RayActorError, GetTimeoutError) as err:  # died, restarting, or slow
                if self._stopping.is_set():
                    raise EngineStopped(f"the engine stopped; no {method}") from err
                if time.monotonic() >= deadline:
                    raise CoordinatorUnavailable(
                        f"the crawl coordinator did not answer {method} within {wait:.0f}s "
                        f"(restarting, or no node offers the 'head' resource)") from err
                logger.info("coordinator unavailable for %(m)s, waiting: %(err)s",
                            {"m": method, "err": err})
                time.sleep(0.5)

    def flush(self, timeout: float = 600.0) -> None:
        """Wait until every committed chunk is scored and its changes matched.

        First the workers' own calls in flight (a restarting worker is skipped: its calls
        died with it), then whatever post-commit work is still pending in the database is
        redone (``PostCommitReaper.drain``).
        """
        self._ask_workers("flush_downstream")
        reaper = self.reaper
        if reaper is not None:
            left = reaper.drain(timeout)
            if left is None or left.pending:
                logger.warning("post-commit work still pending after %(t).0fs: %(left)s",
                               {"t": timeout, "left": left})

    def _ask_workers(self, method: str) -> list[Any]:
        """Each live crawl worker's answer to ``method`` (a restarting one is left out: its
        calls fail at once, as crawl workers do not retry them)."""
        import ray
        from ray.exceptions import RayActorError

        answers = []
        for worker, ref in [(w, getattr(w, method).remote()) for w in self.workers]:
            try:
                answers.append(ray.get(ref))
            except RayActorError as err:  # ActorUnavailableError included
                logger.info("crawl worker %(w)s is restarting: no %(m)s (%(err)s)",
                            {"w": worker, "m": method, "err": err})
        return answers

    def refresh(self, targets: list[tuple[str, str]]) -> list[str]:
        """Queue refresh shards ahead of everything; returns their shard ids."""
        return list(self._coordinator_call("refresh", targets))

    def wait_shards(self, shard_ids: list[str], timeout: float = 30.0) -> dict[str, Any]:
        return dict(self._coordinator_call("wait_shards", shard_ids, timeout,
                                           wait=timeout + COORDINATOR_WAIT_S))

    def set_clock_offset(self, seconds: float) -> None:
        self._coordinator_call("set_clock_offset", seconds)

    def targets_for(self, marketplace_ids: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """(marketplace, source_event_id) -> (spider, source_event_id) for every spider."""
        return [(spider, eid) for market, eid in marketplace_ids
                for spider, m in self.spiders.items() if m == market]

    # --- views ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The coordinator's and the workers' progress; while the coordinator restarts, its
        last answer with ``coordinator: "restarting"``."""
        try:
            status = dict(self._coordinator_call("status", wait=2.0))
            status["coordinator"] = "up"
            self._last_status = dict(status)
        except CoordinatorUnavailable:  # the cycle's own calls wait longer, or say so
            status = {**self._last_status, "coordinator": "restarting"}
        progress = self._ask_workers("progress")
        status["crawled_listings"] = sum(p["listings"] for p in progress)
        status["committed_listings"] = sum(p["committed"] for p in progress)
        status["queued_pages"] = sum(p["queued_pages"] for p in progress)
        status["paused"] = sum(p["paused"] for p in progress)
        status["scored"] = sum(p["scored"] for p in progress)
        status["deals"] = sum(p["deals"] for p in progress)
        status["score_errors"] = sum(p["score_errors"] for p in progress)
        status["hook_errors"] = sum(p["hook_errors"] for p in progress)
        # shard failures (re-queued or given up) plus errors counted inside shards
        status["shard_errors"] = status.get("errors", 0)
        status["errors"] = (status["shard_errors"] + status.get("total_errors", 0)
                            + status["score_errors"] + status["hook_errors"])
        work = self.reaper.counts() if self.reaper is not None else None
        if work is not None:  # committed batches not yet scored / matched
            status["scoring_pending"] = work.score_pending
            status["matching_pending"] = work.match_pending
            status["post_commit_failed"] = work.failed
        if self.maintenance is not None:  # counted apart: periodic work, not the crawl
            status["maintenance"] = self.maintenance.status()
            status["maintenance_errors"] = self.maintenance.errors
        return status

    def stop(self) -> None:
        """Stop the loops and the actors this engine created (Ray itself stays up), then
        wait for a ``run_cycle`` in another thread to give up."""
        import ray

        self._stopping.set()
        if self.maintenance is not None:
            self.maintenance.stop()
            self.maintenance = None
        if self.reaper is not None:
            self.reaper.stop()
            self.reaper = None
        if self.coordinator is not None:
            try:
                ray.get(self.coordinator.stop.remote(), timeout=10)
            except Exception as err:  # stopping: report, carry on killing
                logger.warning("coordinator did not stop cleanly: %(err)s", {"err": err})
        for worker in self.workers:
            try:  # scores and alert matches of committed work finish first
                ray.get(worker.flush_downstream.remote(5.0), timeout=10)
                ray.get(worker.shutdown.remote(), timeout=5)
            except Exception as err:
                logger.debug("worker shutdown: %(err)s", {"err": err})
        for handle in [self.coordinator, *self.workers, *self.writers, *self.scorers,
                       *self.relays]:
            if handle is not None:
                ray.kill(handle, no_restart=True)
        self.coordinator, self.workers, self.writers, self.scorers = None, [], [], []
        self.relays = []
        with self._cycles_left:  # its calls to the killed actors fail at once
            if not self._cycles_left.wait_for(lambda: self._cycles == 0, timeout=15):
                logger.warning("a crawl cycle was still waiting on Ray after the stop")
