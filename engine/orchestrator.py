"""``Engine``: builds the actors, runs crawl cycles, takes refreshes, reports status.

The driver-side handle used by ``ripcity run``, ``ripcity crawl`` and the pipeline
benchmark; the work itself happens in the actors (see ``engine.actors``).
"""

from __future__ import annotations

import dataclasses
import logging
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
    events_per_shard: int = 4
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
                            renderer_slots=o.renderer_slots, speed=o.speed,
                            discover_spiders=_discovering(self.spiders),
                            clock_offset=timedelta(seconds=o.clock_offset_s))
        self.coordinator = actors.make_coordinator(frontier, self.workers,
                                                   slots_per_worker=o.slots_per_worker)
        ray.get(self.coordinator.start.remote(continuous))
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
        import ray

        t0 = time.monotonic()
        ray.get(self.coordinator.discover.remote())
        if not ray.get(self.coordinator.wait_idle.remote(timeout)):
            raise TimeoutError(f"discovery did not finish within {timeout:.0f}s")
        ray.get(self.coordinator.plan.remote())
        left = max(1.0, timeout - (time.monotonic() - t0))
        if not ray.get(self.coordinator.wait_idle.remote(left)):
            raise TimeoutError(f"the crawl cycle did not finish within {timeout:.0f}s")
        self.flush()
        summary = self.status()
        summary["cycle_seconds"] = round(time.monotonic() - t0, 2)
        return summary

    def flush(self) -> None:
        """Wait until every committed chunk is scored and its changes matched.

        A worker that died has nothing left to wait for (its calls in flight died with it,
        and its shards are re-run, which reports their changes again): a worker that is
        restarting is skipped rather than failing the cycle.
        """
        self._ask_workers("flush_downstream")

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
        import ray

        return ray.get(self.coordinator.refresh.remote(targets))

    def wait_shards(self, shard_ids: list[str], timeout: float = 30.0) -> dict[str, Any]:
        import ray

        return ray.get(self.coordinator.wait_shards.remote(shard_ids, timeout))

    def targets_for(self, marketplace_ids: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """(marketplace, source_event_id) -> (spider, source_event_id) for every spider."""
        return [(spider, eid) for market, eid in marketplace_ids
                for spider, m in self.spiders.items() if m == market]

    # --- views ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        import ray

        status = ray.get(self.coordinator.status.remote())
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
        if self.maintenance is not None:  # counted apart: periodic work, not the crawl
            status["maintenance"] = self.maintenance.status()
            status["maintenance_errors"] = self.maintenance.errors
        return status

    def stop(self) -> None:
        """Stop the loops and the actors this engine created (Ray itself stays up)."""
        import ray

        if self.maintenance is not None:
            self.maintenance.stop()
            self.maintenance = None
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
